#pragma once
// Weighted soft voting of several models' class probabilities (paper §5), with the
// weights searched on the validation set and reported on the test set.
#include <cstdint>
#include <vector>

namespace sgdlab {

// probs[m]: model m's probabilities [n, classes].
std::vector<int> vote(const std::vector<std::vector<float>>& probs,
                      const std::vector<double>& weights, int classes);
double accuracy(const std::vector<int>& predicted, const std::vector<int32_t>& labels);
// counts[true][predicted]
std::vector<std::vector<int>> confusion_matrix(const std::vector<int>& predicted,
                                               const std::vector<int32_t>& labels, int classes);

struct WeightSearch {
  std::vector<double> weights;  // the draw with the best validation accuracy
  double val_acc = 0, test_acc = 0;
  std::vector<std::vector<double>> draws;  // every draw, for the report
};

// The paper's search for (mlp, cnn, lcnn): mlp ~ U(0, 0.2), lcnn ~ U(0, 0.8), cnn = 1 -
// both (never negative); `draws` draws, and the best on validation wins (the first on
// ties).
WeightSearch search_weights(const std::vector<std::vector<float>>& val_probs,
                            const std::vector<int32_t>& val_labels,
                            const std::vector<std::vector<float>>& test_probs,
                            const std::vector<int32_t>& test_labels, int classes, int draws,
                            uint64_t seed);

// Any number of models (the record preset's architectures): the first draw gives every
// model the same weight, the others are uniform on the simplex (Dirichlet(1, ..., 1));
// the best on validation wins (the first on ties).
WeightSearch search_simplex_weights(const std::vector<std::vector<float>>& val_probs,
                                    const std::vector<int32_t>& val_labels,
                                    const std::vector<std::vector<float>>& test_probs,
                                    const std::vector<int32_t>& test_labels, int classes, int draws,
                                    uint64_t seed);

}  // namespace sgdlab
