#include "sgdlab/study/ensemble.hpp"

#include <algorithm>
#include <random>

#include "sgdlab/core/argmax.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

std::vector<int> vote(const std::vector<std::vector<float>>& probs,
                      const std::vector<double>& weights, int classes) {
  SGDLAB_CHECK(!probs.empty() && probs.size() == weights.size(), "one weight per model");
  const size_t n = probs[0].size() / size_t(classes);
  std::vector<int> out(n);
  std::vector<double> score(classes);
  for (size_t i = 0; i < n; ++i) {
    std::fill(score.begin(), score.end(), 0.0);
    for (size_t m = 0; m < probs.size(); ++m)
      for (int c = 0; c < classes; ++c) score[c] += weights[m] * probs[m][i * classes + c];
    out[i] = argmax_first(score.data(), classes);
  }
  return out;
}

double accuracy(const std::vector<int>& predicted, const std::vector<int32_t>& labels) {
  SGDLAB_CHECK(predicted.size() == labels.size(), "one prediction per label");
  size_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predicted[i] == labels[i];
  return double(correct) / double(labels.size());
}

std::vector<std::vector<int>> confusion_matrix(const std::vector<int>& predicted,
                                               const std::vector<int32_t>& labels, int classes) {
  SGDLAB_CHECK(predicted.size() == labels.size(), "one prediction per label");
  std::vector<std::vector<int>> m(classes, std::vector<int>(classes, 0));
  for (size_t i = 0; i < labels.size(); ++i) {
    SGDLAB_CHECK(
        labels[i] >= 0 && labels[i] < classes && predicted[i] >= 0 && predicted[i] < classes,
        "classes in [0, ", classes, "), got label ", labels[i], " predicted ", predicted[i]);
    ++m[labels[i]][predicted[i]];
  }
  return m;
}

namespace {

// Every draw's validation accuracy; the best draw wins (the first on ties), reported on test.
template <class Draw>
WeightSearch best_of_draws(const std::vector<std::vector<float>>& val_probs,
                           const std::vector<int32_t>& val_labels,
                           const std::vector<std::vector<float>>& test_probs,
                           const std::vector<int32_t>& test_labels, int classes, int draws,
                           Draw draw) {
  SGDLAB_CHECK(!val_probs.empty() && val_probs.size() == test_probs.size(),
               "the same models on validation and test");
  SGDLAB_CHECK(draws > 0, "at least one weight draw, got ", draws);
  WeightSearch best;
  best.val_acc = -1;
  for (int d = 0; d < draws; ++d) {
    const std::vector<double> w = draw(d);
    best.draws.push_back(w);
    const double v = accuracy(vote(val_probs, w, classes), val_labels);
    if (v > best.val_acc) {
      best.val_acc = v;
      best.weights = w;
    }
  }
  best.test_acc = accuracy(vote(test_probs, best.weights, classes), test_labels);
  return best;
}

}  // namespace

WeightSearch search_weights(const std::vector<std::vector<float>>& val_probs,
                            const std::vector<int32_t>& val_labels,
                            const std::vector<std::vector<float>>& test_probs,
                            const std::vector<int32_t>& test_labels, int classes, int draws,
                            uint64_t seed) {
  SGDLAB_CHECK(val_probs.size() == 3 && test_probs.size() == 3, "three models: mlp, cnn, lcnn");
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> mlp(0, 0.2), lcnn(0, 0.8);
  return best_of_draws(val_probs, val_labels, test_probs, test_labels, classes, draws, [&](int) {
    // wm <= 0.2 and wl <= 0.8 as doubles, and 1 - 0.2 rounds to exactly 0.8, so the
    // cnn weight is never negative: every draw is kept.
    const double wm = mlp(rng), wl = lcnn(rng), wc = 1 - wm - wl;
    return std::vector<double>{wm, wc, wl};
  });
}

WeightSearch search_simplex_weights(const std::vector<std::vector<float>>& val_probs,
                                    const std::vector<int32_t>& val_labels,
                                    const std::vector<std::vector<float>>& test_probs,
                                    const std::vector<int32_t>& test_labels, int classes, int draws,
                                    uint64_t seed) {
  const size_t k = val_probs.size();
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> unit(1.0);
  return best_of_draws(val_probs, val_labels, test_probs, test_labels, classes, draws, [&](int d) {
    std::vector<double> w(k, 1.0 / double(k));
    if (d == 0) return w;
    // Normalised unit exponentials are uniform on the simplex (Dirichlet(1, ..., 1)).
    double sum = 0;
    for (double& x : w) sum += x = unit(rng);
    for (double& x : w) x /= sum;
    return w;
  });
}

}  // namespace sgdlab
