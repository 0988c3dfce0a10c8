// Samplers: determinism under a seed, Optuna's weights, and TPE beating random search.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "host/search/parzen.hpp"
#include "sgdlab/search/sampler.hpp"

namespace sgdlab {
namespace {

Trial finished(int number, ParamValues p, double value) {
  Trial t;
  t.number = number;
  t.state = TrialState::Complete;
  t.params = std::move(p);
  t.value = value;
  return t;
}

TEST(RandomSampler, DeterministicUnderSeedAndInBounds) {
  const SearchSpace space = SearchSpace::study_default();
  auto a = make_random_sampler(3), b = make_random_sampler(3), c = make_random_sampler(4);
  for (int n = 0; n < 50; ++n) {
    const auto pa = a->sample(space, {}, n);
    EXPECT_EQ(pa, b->sample(space, {}, n));
    EXPECT_NE(pa, c->sample(space, {}, n));
    EXPECT_TRUE(space.contains(pa));
  }
}

TEST(RandomSampler, LogUniformIsUniformInLogSpace) {
  const SearchSpace space = SearchSpace::study_default();
  auto s = make_random_sampler(1);
  int below_1e4 = 0;
  const int n = 4000;
  for (int i = 0; i < n; ++i) below_1e4 += s->sample(space, {}, i).at("lr") < 1e-4;
  // log10 lr is uniform on (-7, -1): half of the draws fall below 1e-4.
  EXPECT_NEAR(double(below_1e4) / n, 0.5, 0.03);
}

TEST(Tpe, DeterministicUnderSeed) {
  const SearchSpace space = SearchSpace::study_default();
  std::vector<Trial> history;
  auto r = make_random_sampler(9);
  for (int i = 0; i < 15; ++i) {
    auto p = r->sample(space, {}, i);
    history.push_back(finished(i, p, -std::abs(std::log10(p.at("lr")) + 2)));
  }
  auto a = make_tpe_sampler(5), b = make_tpe_sampler(5), c = make_tpe_sampler(6);
  EXPECT_EQ(a->sample(space, history, 15), b->sample(space, history, 15));
  EXPECT_NE(a->sample(space, history, 15), c->sample(space, history, 15));
}

TEST(Tpe, StartupTrialsAreUniformDraws) {
  const SearchSpace space = SearchSpace::study_default();
  auto tpe = make_tpe_sampler(2);
  std::vector<Trial> history;
  for (int i = 0; i < 9; ++i) history.push_back(finished(i, tpe->sample(space, history, i), i));
  auto rng = trial_rng(2, 9);
  EXPECT_EQ(tpe->sample(space, history, 9), sample_uniformly(space, rng));
}

TEST(Tpe, DefaultWeightsMatchOptuna) {
  EXPECT_EQ(tpe::default_weights(3), std::vector<double>(3, 1.0));
  const auto w = tpe::default_weights(30);  // np.linspace(1/30, 1, 5) then 25 ones
  ASSERT_EQ(w.size(), 30u);
  EXPECT_DOUBLE_EQ(w[0], 1.0 / 30);
  EXPECT_DOUBLE_EQ(w[4], 1.0);
  EXPECT_DOUBLE_EQ(w[2], 1.0 / 30 + (1 - 1.0 / 30) * 0.5);
  EXPECT_DOUBLE_EQ(std::accumulate(w.begin() + 5, w.end(), 0.0), 25.0);
}

TEST(Tpe, TruncatedNormalDensityIntegratesToOne) {
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double x = -1 + 3.0 * (i + 0.5) / n;
    sum += std::exp(tpe::truncnorm_log_pdf(x, 1.5, 0.7, -1, 2)) * 3.0 / n;
  }
  EXPECT_NEAR(sum, 1.0, 1e-6);
}

// The mixture is a density: it integrates to one (Optuna before 3.5 lacked -log(sigma)
// in each component, optuna/optuna#5109).
TEST(Tpe, ParzenMixtureIntegratesToOne) {
  const ParamSpec x{"x", Dist::Uniform, 0, 1, {}};
  const tpe::ParzenEstimator pe({&x}, {{0.1}, {0.5}, {0.55}, {0.9}}, {1, 1, 1, 1}, TpeOptions{});
  double sum = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) sum += std::exp(pe.log_pdf({(i + 0.5) / n})) / n;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  // scipy.stats.truncnorm gives this mixture log density 0.0232719513 at x = 0.3.
  EXPECT_NEAR(pe.log_pdf({0.3}), 0.0232719513, 1e-8);
}

// Best value found after `n` trials of maximising -(x - 3)^2 over x in (-10, 10).
double best_after(Sampler& s, int n) {
  const SearchSpace space({{"x", Dist::Uniform, -10, 10, {}}});
  std::vector<Trial> history;
  double best = -INFINITY;
  for (int i = 0; i < n; ++i) {
    const auto p = s.sample(space, history, i);
    const double v = -(p.at("x") - 3) * (p.at("x") - 3);
    best = std::max(best, v);
    history.push_back(finished(i, p, v));
  }
  return best;
}

TEST(Tpe, BeatsRandomOnAQuadraticAcrossSeeds) {
  int wins = 0;
  double tpe_sum = 0, random_sum = 0;
  for (uint64_t seed = 0; seed < 12; ++seed) {
    auto tpe = make_tpe_sampler(seed);
    auto random = make_random_sampler(seed);
    const double bt = best_after(*tpe, 40), br = best_after(*random, 40);
    wins += bt > br;
    tpe_sum += bt;
    random_sum += br;
  }
  EXPECT_GE(wins, 9) << "TPE better than random in " << wins << " of 12 seeds";
  EXPECT_GT(tpe_sum, random_sum);
}

// Best value after `n` trials of maximising -((x - 3)^2 + (y + 2)^2) over (-10, 10)^2.
double best_after_2d(Sampler& s, int n) {
  const SearchSpace space({{"x", Dist::Uniform, -10, 10, {}}, {"y", Dist::Uniform, -10, 10, {}}});
  std::vector<Trial> history;
  double best = -INFINITY;
  for (int i = 0; i < n; ++i) {
    const auto p = s.sample(space, history, i);
    const double v = -(p.at("x") - 3) * (p.at("x") - 3) - (p.at("y") + 2) * (p.at("y") + 2);
    best = std::max(best, v);
    history.push_back(finished(i, p, v));
  }
  return best;
}

// A one-sided sign test at 5% over 30 seeds: at least 20 wins.
TEST(Tpe, MultivariateBeatsRandomInTwoDimensions) {
  TpeOptions mv;
  mv.multivariate = true;
  int wins = 0;
  for (uint64_t seed = 0; seed < 30; ++seed) {
    auto tpe = make_tpe_sampler(seed, mv);
    auto random = make_random_sampler(seed);
    wins += best_after_2d(*tpe, 40) > best_after_2d(*random, 40);
  }
  EXPECT_GE(wins, 20) << "multivariate TPE better than random in " << wins << " of 30 seeds";
}

TEST(Tpe, PrefersTheBetterCategory) {
  const SearchSpace space(
      {{"c", Dist::Categorical, 0, 0, {1, 2, 3, 4}}, {"x", Dist::Uniform, 0, 1, {}}});
  std::vector<Trial> history;
  auto r = make_random_sampler(1);
  for (int i = 0; i < 30; ++i) {
    auto p = r->sample(space, {}, i);
    history.push_back(finished(i, p, p.at("c") == 3 ? 1.0 + p.at("x") : p.at("x")));
  }
  auto tpe = make_tpe_sampler(7);
  int threes = 0;
  for (int i = 30; i < 70; ++i) threes += tpe->sample(space, history, i).at("c") == 3;
  EXPECT_GT(threes, 25) << "of 40 draws";
}

TEST(Tpe, ConstantLiarSpreadsConcurrentAsks) {
  const SearchSpace space({{"x", Dist::Uniform, 0, 1, {}}});
  std::vector<Trial> history;
  auto r = make_random_sampler(4);
  for (int i = 0; i < 20; ++i) {
    auto p = r->sample(space, {}, i);
    history.push_back(finished(i, p, -std::abs(p.at("x") - 0.5)));
  }
  auto liar = make_tpe_sampler(1);
  TpeOptions no;
  no.constant_liar = false;
  auto plain = make_tpe_sampler(1, no);
  // Five trials already running near the optimum push the liar's draw elsewhere.
  for (int i = 0; i < 5; ++i) {
    Trial t;
    t.number = 20 + i;
    t.state = TrialState::Running;
    t.params = {{"x", 0.5 + 0.002 * i}};
    history.push_back(t);
  }
  EXPECT_NE(liar->sample(space, history, 25), plain->sample(space, history, 25));
}

}  // namespace
}  // namespace sgdlab
