#pragma once
// Coarse-to-fine narrowing (paper §4.2): from the top fraction of completed trials,
// each numeric parameter's mean +- std (in log space for log parameters, clipped to
// the original bounds), the most frequent value of each categorical parameter (the
// batch size in the study's space), and Gaussian KDE curves of all
// trials and of the top trials (Scott's bandwidth) for the figures.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sgdlab/search/space.hpp"
#include "sgdlab/search/trial.hpp"

namespace sgdlab {

struct ParamInterval {
  std::string name;
  bool log_scale = false;
  double mean = 0, std = 0;  // in log space (natural log) for log parameters
  double low = 0, high = 0;  // the narrowed interval, natural units, clipped
  bool clipped_low = false, clipped_high = false;
};

// Densities on a grid in plotting units: log10 for log parameters, log2 for the
// batch size, natural units otherwise (a categorical momentum may have a choice of 0).
struct KdeCurve {
  std::string name;
  std::string axis;  // "log10(lr)", "log2(batch)", "momentum", ...
  std::vector<double> grid, all, top;
  std::vector<double> all_values, top_values;  // the samples, in plotting units
  double bandwidth_all = 0, bandwidth_top = 0;
};

struct Narrowing {
  int n_trials = 0, n_top = 0;
  double top_fraction = 0.2;
  std::vector<ParamInterval> intervals;
  std::map<std::string, double> modes;  // each categorical parameter's: {"batch": 64}
  SearchSpace space;                    // the narrowed space for the next sweep
  std::vector<KdeCurve> kde;
  nlohmann::json to_json() const;
};

// What narrowing keeps of a categorical parameter other than the batch size (which
// keeps its most frequent value, the paper's rule): Mode, the most frequent value too;
// Seen, every choice the top trials used (the most frequent of six binary draws is a
// coin flip, and it can drop the best trial's choice: docs/record-notes.md).
enum class Choices { Mode, Seen };
// "mode" or "seen"; throws InputError naming `flag`.
Choices parse_choices(const std::string& text, const std::string& flag);

// The trials used are the COMPLETE ones with a value. Throws InputError with none.
Narrowing narrow(const SearchSpace& original, const std::vector<Trial>& trials,
                 double top_fraction = 0.2, Choices choices = Choices::Mode);

// Gaussian KDE of `samples` on `grid` with Scott's rule (bandwidth = sample std *
// n^(-1/5), as scipy.stats.gaussian_kde in one dimension); `fallback` when the
// samples have no spread.
std::vector<double> gaussian_kde(const std::vector<double>& samples,
                                 const std::vector<double>& grid, double fallback,
                                 double* bandwidth);

// Count of the top `fraction` of n, rounded up (20% of 30 is 6).
int top_count(int n, double fraction);

}  // namespace sgdlab
