// The ensemble on hand-built probabilities: the weighted vote and its ties, the weight
// search, the confusion matrix.
#include <gtest/gtest.h>

#include "sgdlab/core/error.hpp"
#include "sgdlab/study/ensemble.hpp"

namespace sgdlab {
namespace {

TEST(Vote, WeightedArgmaxOfTheProbabilities) {
  // Two models, three classes, two rows.
  const std::vector<std::vector<float>> probs = {{0.6f, 0.3f, 0.1f, 0.2f, 0.5f, 0.3f},
                                                 {0.1f, 0.2f, 0.7f, 0.1f, 0.1f, 0.8f}};
  // Equal weights: row 0 scores 0.35 0.25 0.40, row 1 scores 0.15 0.30 0.55.
  EXPECT_EQ(vote(probs, {0.5, 0.5}, 3), (std::vector<int>{2, 2}));
  // 0.8 / 0.2: row 0 scores 0.50 0.28 0.22, row 1 scores 0.18 0.42 0.40.
  EXPECT_EQ(vote(probs, {0.8, 0.2}, 3), (std::vector<int>{0, 1}));
  // A model with weight 0 has no say.
  EXPECT_EQ(vote(probs, {0.0, 1.0}, 3), (std::vector<int>{2, 2}));
  EXPECT_EQ(vote(probs, {1.0, 0.0}, 3), (std::vector<int>{0, 1}));
}

TEST(Vote, ATieGoesToTheFirstClass) {
  // Every value is a dyadic fraction, so the scores tie exactly: 0.5 0.5 0 and 0 0.5 0.5.
  const std::vector<std::vector<float>> probs = {{0.25f, 0.75f, 0.0f, 0.0f, 0.25f, 0.75f},
                                                 {0.75f, 0.25f, 0.0f, 0.0f, 0.75f, 0.25f}};
  EXPECT_EQ(vote(probs, {0.5, 0.5}, 3), (std::vector<int>{0, 1}));
  // A single model whose row ties across all classes predicts class 0.
  EXPECT_EQ(vote({{0.25f, 0.25f, 0.25f, 0.25f}}, {1.0}, 4), (std::vector<int>{0}));
}

TEST(Vote, OneWeightPerModel) {
  EXPECT_THROW(vote({{0.5f, 0.5f}, {0.5f, 0.5f}}, {1.0}, 2), Error);
  EXPECT_THROW(vote({}, {}, 2), Error);
}

TEST(ConfusionMatrix, CountsTrueByPredicted) {
  const std::vector<int32_t> labels = {0, 0, 1, 2, 2, 2, 1};
  const std::vector<int> predicted = {0, 1, 1, 2, 0, 2, 1};
  // Row = true class, column = predicted: class 0 once right and once taken for 1, class
  // 1 twice right, class 2 twice right and once taken for 0.
  const std::vector<std::vector<int>> expected = {{1, 1, 0}, {0, 2, 0}, {1, 0, 2}};
  EXPECT_EQ(confusion_matrix(predicted, labels, 3), expected);
  // A class never seen nor predicted keeps a row and a column of zeros.
  const std::vector<std::vector<int>> wider = {
      {1, 1, 0, 0}, {0, 2, 0, 0}, {1, 0, 2, 0}, {0, 0, 0, 0}};
  EXPECT_EQ(confusion_matrix(predicted, labels, 4), wider);
}

TEST(ConfusionMatrix, OnePredictionPerLabelEachAClass) {
  EXPECT_THROW(confusion_matrix({0, 1}, {0, 1, 1}, 2), Error);
  EXPECT_THROW(confusion_matrix({0, 3}, {0, 1}, 3), Error);
  EXPECT_THROW(confusion_matrix({0, 1}, {-1, 1}, 3), Error);
}

TEST(Accuracy, FractionCorrect) {
  EXPECT_DOUBLE_EQ(accuracy({0, 1, 2, 2}, {0, 1, 1, 2}), 0.75);
}

// One-hot rows of `classes` probabilities.
std::vector<float> one_hot(const std::vector<int>& classes_of_rows, int classes) {
  std::vector<float> p(classes_of_rows.size() * size_t(classes), 0.0f);
  for (size_t i = 0; i < classes_of_rows.size(); ++i) p[i * classes + classes_of_rows[i]] = 1;
  return p;
}

// Models (mlp, cnn, lcnn), three classes. On validation the cnn is always right; the mlp
// and the lcnn are always wrong, on the same class in the first rows and on different
// classes in the others. The vote is then right on every row if and only if the cnn's
// weight beats the other two together (wc > wm + wl), which half of the draws do.
struct PerfectCnn {
  std::vector<int32_t> val_labels = {0, 1, 2, 0, 1, 2};
  std::vector<std::vector<float>> val = {one_hot({1, 2, 0, 1, 2, 0}, 3),
                                         one_hot({0, 1, 2, 0, 1, 2}, 3),
                                         one_hot({1, 2, 0, 2, 0, 1}, 3)};
  // On test the cnn is right on three rows of four; on the last row the mlp and the lcnn
  // are right and the cnn, decisive, outvotes them: 3 of 4 once the cnn decides.
  std::vector<int32_t> test_labels = {0, 1, 2, 1};
  std::vector<std::vector<float>> test = {one_hot({1, 0, 0, 1}, 3), one_hot({0, 1, 2, 2}, 3),
                                          one_hot({2, 2, 1, 1}, 3)};
};

TEST(SearchWeights, APerfectModelGetsTheDecisiveWeight) {
  const PerfectCnn c;
  const WeightSearch w = search_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 200, 11);
  ASSERT_EQ(w.weights.size(), 3u);
  EXPECT_EQ(w.val_acc, 1.0);
  EXPECT_GT(w.weights[1], w.weights[0] + w.weights[2]);
  EXPECT_EQ(w.test_acc, 0.75);
  // The accuracies reported are those of the vote with the chosen weights.
  EXPECT_EQ(accuracy(vote(c.val, w.weights, 3), c.val_labels), w.val_acc);
  EXPECT_EQ(accuracy(vote(c.test, w.weights, 3), c.test_labels), w.test_acc);
  // Every draw with wc > wm + wl scores 1 on validation and every other draw less, so
  // the winner is the first draw that lets the cnn decide.
  ASSERT_EQ(w.draws.size(), 200u);
  size_t first = 0;
  while (first < w.draws.size() && !(w.draws[first][1] > w.draws[first][0] + w.draws[first][2]))
    ++first;
  ASSERT_LT(first, w.draws.size());
  EXPECT_EQ(w.weights, w.draws[first]);
}

TEST(SearchWeights, DrawsFollowThePapersRanges) {
  const PerfectCnn c;
  const WeightSearch w = search_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 5000, 3);
  ASSERT_EQ(w.draws.size(), 5000u);
  double mlp_max = 0, lcnn_max = 0;
  for (const auto& d : w.draws) {
    ASSERT_EQ(d.size(), 3u);
    EXPECT_GE(d[0], 0.0);
    EXPECT_LT(d[0], 0.2);
    EXPECT_GE(d[2], 0.0);
    EXPECT_LT(d[2], 0.8);
    EXPECT_GE(d[1], 0.0);  // the cnn's weight, 1 - the others, is never negative
    EXPECT_NEAR(d[0] + d[1] + d[2], 1.0, 1e-15);
    mlp_max = std::max(mlp_max, d[0]);
    lcnn_max = std::max(lcnn_max, d[2]);
  }
  // 5000 uniform draws come within 1% of each range's top (miss chance 0.99^5000).
  EXPECT_GT(mlp_max, 0.198);
  EXPECT_GT(lcnn_max, 0.792);
}

TEST(SearchWeights, TheSameSeedGivesTheSameDraws) {
  const PerfectCnn c;
  const auto a = search_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 50, 5);
  const auto b = search_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 50, 5);
  const auto other = search_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 50, 6);
  EXPECT_EQ(a.draws, b.draws);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_NE(a.draws, other.draws);
}

TEST(SearchWeights, NeedsThreeModels) {
  const PerfectCnn c;
  const std::vector<std::vector<float>> two(c.val.begin(), c.val.begin() + 2);
  EXPECT_THROW(search_weights(two, c.val_labels, two, c.val_labels, 3, 10, 1), Error);
}

TEST(SearchSimplexWeights, TheFirstDrawIsEqualWeightsAndEveryDrawIsOnTheSimplex) {
  const PerfectCnn c;
  const WeightSearch w =
      search_simplex_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 4000, 7);
  ASSERT_EQ(w.draws.size(), 4000u);
  EXPECT_EQ(w.draws[0], std::vector<double>(3, 1.0 / 3));
  std::vector<double> top(3, 0.0), sum(3, 0.0);
  for (const auto& d : w.draws) {
    ASSERT_EQ(d.size(), 3u);
    double total = 0;
    for (size_t m = 0; m < 3; ++m) {
      EXPECT_GE(d[m], 0.0);
      total += d[m];
      top[m] = std::max(top[m], d[m]);
      sum[m] += d[m];
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
  // Uniform on the simplex: each weight's mean is 1/3 (std of one weight 0.236, of the
  // mean of 4000 about 0.004), and each weight comes near 1 (P(w > 0.95) = 0.0025 per
  // draw, so a miss in 4000 draws has chance 4.5e-5).
  for (size_t m = 0; m < 3; ++m) {
    EXPECT_NEAR(sum[m] / 4000, 1.0 / 3, 0.02) << m;
    EXPECT_GT(top[m], 0.95) << m;
  }
}

TEST(SearchSimplexWeights, APerfectModelDecidesWhateverTheNumberOfModels) {
  const PerfectCnn c;
  // Four models: the perfect cnn and three that are always wrong; the vote is right on
  // every validation row only where the cnn outweighs the wrong ones voting together.
  auto val = c.val;
  auto test = c.test;
  val.push_back(val[0]);
  test.push_back(test[0]);
  const WeightSearch w = search_simplex_weights(val, c.val_labels, test, c.test_labels, 3, 300, 2);
  ASSERT_EQ(w.weights.size(), 4u);
  EXPECT_EQ(w.val_acc, 1.0);
  EXPECT_EQ(accuracy(vote(val, w.weights, 3), c.val_labels), w.val_acc);
  EXPECT_EQ(accuracy(vote(test, w.weights, 3), c.test_labels), w.test_acc);
  // Equal weights do not let it decide (1/4 against 3/4), so the winner is a later draw.
  EXPECT_NE(w.weights, w.draws[0]);
}

TEST(SearchSimplexWeights, RefusesNoDrawsAndMismatchedModels) {
  const PerfectCnn c;
  EXPECT_THROW(search_simplex_weights(c.val, c.val_labels, c.test, c.test_labels, 3, 0, 1), Error);
  const std::vector<std::vector<float>> two(c.val.begin(), c.val.begin() + 2);
  EXPECT_THROW(search_simplex_weights(c.val, c.val_labels, two, c.test_labels, 3, 10, 1), Error);
}

}  // namespace
}  // namespace sgdlab
