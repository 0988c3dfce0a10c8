#include "sgdlab/search/narrow.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/stats.hpp"

namespace sgdlab {
namespace {

bool log2_axis(const ParamSpec& p) {
  return p.name == "batch";
}

double plot_unit(const ParamSpec& p, double v) {
  if (log2_axis(p)) return std::log2(v);
  return p.is_log() ? std::log10(v) : v;
}

}  // namespace

int top_count(int n, double fraction) {
  return std::max(1, int(std::ceil(fraction * double(n) - 1e-9)));
}

std::vector<double> gaussian_kde(const std::vector<double>& samples,
                                 const std::vector<double>& grid, double fallback,
                                 double* bandwidth) {
  double bw = sample_std(samples) * std::pow(double(samples.size()), -0.2);
  if (!(bw > 0)) bw = fallback;
  if (bandwidth) *bandwidth = bw;
  std::vector<double> out;
  const double norm = 1.0 / (double(samples.size()) * bw * std::sqrt(2 * M_PI));
  for (double g : grid) {
    double s = 0;
    for (double x : samples) s += std::exp(-0.5 * (g - x) * (g - x) / (bw * bw));
    out.push_back(s * norm);
  }
  return out;
}

namespace {

// The COMPLETE trials with a value in the original space, best first (stable on ties).
std::vector<const Trial*> completed_best_first(const SearchSpace& original,
                                               const std::vector<Trial>& trials) {
  std::vector<const Trial*> done;
  for (const Trial& t : trials)
    if (t.state == TrialState::Complete && t.value && original.contains(t.params))
      done.push_back(&t);
  if (done.empty()) SGDLAB_INPUT_ERROR("no completed trials to narrow from");
  std::stable_sort(done.begin(), done.end(),
                   [](const Trial* a, const Trial* b) { return *a->value > *b->value; });
  return done;
}

// The most frequent value among the top trials; a tie goes to the value whose top
// trials have the higher mean accuracy.
double top_mode(const ParamSpec& p, const std::vector<const Trial*>& top) {
  std::map<double, std::pair<int, double>> tally;
  for (const Trial* t : top) {
    auto& [count, sum] = tally[t->params.at(p.name)];
    ++count;
    sum += *t->value;
  }
  auto best = tally.begin();
  for (auto it = tally.begin(); it != tally.end(); ++it) {
    const auto& [c, s] = it->second;
    const auto& [bc, bs] = best->second;
    if (c > bc || (c == bc && s / c > bs / bc)) best = it;
  }
  return best->first;
}

// Mean +- std of the top trials in the internal space, clipped to the original bounds.
ParamInterval top_interval(const ParamSpec& p, const std::vector<const Trial*>& top) {
  std::vector<double> top_internal;
  for (const Trial* t : top) top_internal.push_back(p.to_internal(t->params.at(p.name)));
  ParamInterval iv;
  iv.name = p.name;
  iv.log_scale = p.is_log();
  iv.mean = mean(top_internal);
  iv.std = sample_std(top_internal);
  double lo = iv.mean - iv.std, hi = iv.mean + iv.std;
  // A single top trial (or identical ones) would leave a point: keep 1% of the range.
  const double min_half = 0.005 * (p.internal_high() - p.internal_low());
  if (hi - lo < 2 * min_half) {
    lo = iv.mean - min_half;
    hi = iv.mean + min_half;
  }
  iv.clipped_low = lo < p.internal_low();
  iv.clipped_high = hi > p.internal_high();
  // Clipped in natural units: exp(log(1e-7)) is 9.9999999999999943e-08, which would put
  // the narrowed space outside the one it came from.
  const auto natural = [&p](double v) {
    return std::clamp(p.is_log() ? std::exp(v) : v, p.low, p.high);
  };
  iv.low = natural(lo);
  iv.high = natural(hi);
  return iv;
}

// KDE curves of all the trials and of the top ones, over the original range padded by
// 15% on each side, in plotting units.
KdeCurve kde_curve(const ParamSpec& p, const std::vector<const Trial*>& done,
                   const std::vector<const Trial*>& top) {
  KdeCurve curve;
  curve.name = p.name;
  curve.axis = log2_axis(p) ? "log2(" + p.name + ")"
               : p.is_log() ? "log10(" + p.name + ")"
                            : p.name;
  double lo, hi;
  if (p.dist == Dist::Categorical) {
    lo = plot_unit(p, *std::min_element(p.choices.begin(), p.choices.end()));
    hi = plot_unit(p, *std::max_element(p.choices.begin(), p.choices.end()));
  } else {
    lo = plot_unit(p, p.low);
    hi = plot_unit(p, p.high);
  }
  const double pad = 0.15 * std::max(hi - lo, 1e-9);
  for (int i = 0; i < 200; ++i) curve.grid.push_back(lo - pad + (hi - lo + 2 * pad) * i / 199.0);
  for (const Trial* t : done) curve.all_values.push_back(plot_unit(p, t->params.at(p.name)));
  for (const Trial* t : top) curve.top_values.push_back(plot_unit(p, t->params.at(p.name)));
  const double fallback = 0.05 * std::max(hi - lo, 1e-9);
  curve.all = gaussian_kde(curve.all_values, curve.grid, fallback, &curve.bandwidth_all);
  curve.top = gaussian_kde(curve.top_values, curve.grid, fallback, &curve.bandwidth_top);
  return curve;
}

}  // namespace

Choices parse_choices(const std::string& text, const std::string& flag) {
  if (text == "mode") return Choices::Mode;
  if (text == "seen") return Choices::Seen;
  SGDLAB_INPUT_ERROR(flag, ": expected mode or seen, got '", text, "'");
}

namespace {

// The choices of `p` that the top trials used, in the space's order.
std::vector<double> seen_choices(const ParamSpec& p, const std::vector<const Trial*>& top) {
  std::vector<double> seen;
  for (double c : p.choices)
    if (std::any_of(top.begin(), top.end(),
                    [&](const Trial* t) { return t->params.at(p.name) == c; }))
      seen.push_back(c);
  return seen;
}

}  // namespace

Narrowing narrow(const SearchSpace& original, const std::vector<Trial>& trials, double top_fraction,
                 Choices choices) {
  const std::vector<const Trial*> done = completed_best_first(original, trials);
  Narrowing n;
  n.n_trials = int(done.size());
  n.top_fraction = top_fraction;
  n.n_top = top_count(n.n_trials, top_fraction);
  const std::vector<const Trial*> top(done.begin(), done.begin() + n.n_top);

  std::vector<ParamSpec> narrowed;
  for (const ParamSpec& p : original.params()) {
    ParamSpec q = p;
    if (p.dist == Dist::Categorical) {
      n.modes[p.name] = top_mode(p, top);
      q.choices = {n.modes[p.name]};
      if (choices == Choices::Seen && p.name != "batch") q.choices = seen_choices(p, top);
    } else {
      const ParamInterval iv = top_interval(p, top);
      q.low = iv.low;
      q.high = iv.high;
      n.intervals.push_back(iv);
    }
    narrowed.push_back(q);
    n.kde.push_back(kde_curve(p, done, top));
  }
  n.space = SearchSpace(narrowed);
  return n;
}

nlohmann::json Narrowing::to_json() const {
  nlohmann::json j = {{"n_trials", n_trials},
                      {"n_top", n_top},
                      {"top_fraction", top_fraction},
                      {"space", space.to_json()}};
  for (const auto& iv : intervals)
    j["intervals"][iv.name] = {{"log_scale", iv.log_scale},
                               {"mean", iv.mean},
                               {"std", iv.std},
                               {"low", iv.low},
                               {"high", iv.high},
                               {"clipped_low", iv.clipped_low},
                               {"clipped_high", iv.clipped_high}};
  for (const auto& [name, mode] : modes) j["mode"][name] = mode;
  for (const auto& c : kde)
    j["kde"][c.name] = {{"axis", c.axis},
                        {"grid", c.grid},
                        {"all", c.all},
                        {"top", c.top},
                        {"all_values", c.all_values},
                        {"top_values", c.top_values},
                        {"bandwidth_all", c.bandwidth_all},
                        {"bandwidth_top", c.bandwidth_top}};
  return j;
}

}  // namespace sgdlab
