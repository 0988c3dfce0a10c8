// The tree-structured Parzen estimator (Bergstra et al., NeurIPS 2011) with Optuna's
// semantics; see TpeOptions for the settings.
#include <algorithm>
#include <cmath>

#include "parzen.hpp"
#include "sgdlab/search/sampler.hpp"

namespace sgdlab {
namespace {

int gamma_of(size_t n) {
  return std::min(int(std::ceil(0.1 * double(n))), 25);
}

struct Ranked {
  const Trial* trial;
  int group;  // 0 finished with a value, 1 pruned, 2 running (constant liar)
  double key1, key2;
};

class TpeSampler final : public Sampler {
 public:
  TpeSampler(uint64_t seed, TpeOptions opt) : seed_(seed), opt_(opt) {}
  std::string name() const override { return "tpe"; }

  ParamValues sample(const SearchSpace& space, const std::vector<Trial>& history,
                     int number) override {
    auto rng = trial_rng(seed_, number);
    std::vector<Ranked> ranked;
    size_t finished = 0;
    for (const Trial& t : history) {
      if (!space.contains(t.params)) continue;  // from another space: not comparable
      if ((t.state == TrialState::Complete || t.state == TrialState::Diverged) && t.value) {
        ranked.push_back({&t, 0, -*t.value, 0});
        ++finished;
      } else if (t.state == TrialState::Pruned) {
        const double last = t.intermediate.empty() ? -INFINITY : t.intermediate.back();
        ranked.push_back({&t, 1, -double(t.intermediate.size()), -last});
        ++finished;
      } else if (t.state == TrialState::Running && opt_.constant_liar && t.number != number) {
        ranked.push_back({&t, 2, 0, 0});
      }
    }
    if (int(finished) < opt_.n_startup_trials) return sample_uniformly(space, rng);

    // Better first: finished by value, then pruned by how far they got, then running.
    std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
      if (a.group != b.group) return a.group < b.group;
      if (a.key1 != b.key1) return a.key1 < b.key1;
      if (a.key2 != b.key2) return a.key2 < b.key2;
      return a.trial->number < b.trial->number;
    });
    // As Optuna: gamma counts finished trials; running ones (the liar's) go above.
    const size_t n_below = std::min(ranked.size(), size_t(gamma_of(finished)));
    std::vector<const Trial*> below, above;
    for (size_t i = 0; i < ranked.size(); ++i)
      (i < n_below ? below : above).push_back(ranked[i].trial);
    auto by_number = [](const Trial* a, const Trial* b) { return a->number < b->number; };
    std::sort(below.begin(), below.end(), by_number);
    std::sort(above.begin(), above.end(), by_number);

    ParamValues out;
    if (opt_.multivariate) {
      std::vector<const ParamSpec*> params;
      for (const auto& p : space.params()) params.push_back(&p);
      const auto x = choose(params, below, above, rng);
      for (size_t p = 0; p < params.size(); ++p)
        out[params[p]->name] = params[p]->from_internal(x[p]);
    } else {
      for (const auto& p : space.params())
        out[p.name] = p.from_internal(choose({&p}, below, above, rng)[0]);
    }
    return out;
  }

 private:
  static std::vector<std::vector<double>> observations(const std::vector<const ParamSpec*>& params,
                                                       const std::vector<const Trial*>& trials) {
    std::vector<std::vector<double>> obs;
    for (const Trial* t : trials) {
      std::vector<double> row;
      for (const ParamSpec* p : params) row.push_back(p->to_internal(t->params.at(p->name)));
      obs.push_back(row);
    }
    return obs;
  }

  // Draws n_ei_candidates from l(x) and keeps the one with the largest l(x) / g(x).
  std::vector<double> choose(const std::vector<const ParamSpec*>& params,
                             const std::vector<const Trial*>& below,
                             const std::vector<const Trial*>& above, std::mt19937_64& rng) const {
    const tpe::ParzenEstimator l(params, observations(params, below),
                                 tpe::default_weights(below.size()), opt_);
    const tpe::ParzenEstimator g(params, observations(params, above),
                                 tpe::default_weights(above.size()), opt_);
    std::vector<double> best;
    double best_score = -INFINITY;
    for (int i = 0; i < opt_.n_ei_candidates; ++i) {
      const auto x = l.sample(rng);
      const double score = l.log_pdf(x) - g.log_pdf(x);
      if (best.empty() || score > best_score) {
        best = x;
        best_score = score;
      }
    }
    return best;
  }

  uint64_t seed_;
  TpeOptions opt_;
};

}  // namespace

std::unique_ptr<Sampler> make_tpe_sampler(uint64_t seed, TpeOptions options) {
  return std::make_unique<TpeSampler>(seed, options);
}

}  // namespace sgdlab
