#include "sgdlab/engine/hyperparameters.hpp"

#include <cmath>
#include <cstdlib>
#include <sstream>

#include "sgdlab/core/augment.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {
namespace {

bool unit_open(double x) {
  return x >= 0 && x < 1;
}

}  // namespace

const std::vector<Hyperparameter>& lane_hyperparameters() {
  using L = LaneSettings;
  static const std::vector<Hyperparameter> table = {
      {"lr", "--lr", "a learning rate > 0", [](double x) { return std::isfinite(x) && x > 0; },
       [](const L& l) { return double(l.lr); }, [](L& l, double v) { l.lr = float(v); }, "0.01",
       "learning rate; a comma list makes a pack", true},
      {"momentum", "--momentum", "a value in [0, 1)", unit_open,
       [](const L& l) { return double(l.momentum); }, [](L& l, double v) { l.momentum = float(v); },
       "0.9", "SGD's momentum in [0, 1); list", true},
      {"dropout", "--dropout", "a rate in [0, 1)", unit_open,
       [](const L& l) { return double(l.dropout); }, [](L& l, double v) { l.dropout = float(v); },
       "0.3", "dropout rate in [0, 1); list", true},
      {"weight_decay", "--weight-decay", "a value in [0, 1]",
       [](double x) { return x >= 0 && x <= 1; }, [](const L& l) { return double(l.weight_decay); },
       [](L& l, double v) { l.weight_decay = float(v); }, "0",
       "L2 on weights, not biases (coupled as in PyTorch's SGD and Adam, decoupled in AdamW); "
       "list"},
      {"nesterov", "--nesterov", "0 (off) or 1 (on)", [](double x) { return x == 0 || x == 1; },
       [](const L& l) { return l.nesterov ? 1.0 : 0.0; },
       [](L& l, double v) { l.nesterov = v == 1; }},
      {"shift", "--augment", "shift in [0, 64] pixels", [](double x) { return x >= 0 && x <= 64; },
       [](const L& l) { return double(l.augment.shift); },
       [](L& l, double v) { l.augment.shift = float(v); }},
      {"rotate", "--augment", "rotate in [0, 180] degrees",
       [](double x) { return x >= 0 && x <= 180; },
       [](const L& l) { return double(l.augment.rotate); },
       [](L& l, double v) { l.augment.rotate = float(v); }},
      {"scale", "--augment", "scale in [0, 0.9]", [](double x) { return x >= 0 && x <= 0.9; },
       [](const L& l) { return double(l.augment.scale); },
       [](L& l, double v) { l.augment.scale = float(v); }},
      {"elastic_alpha", "--augment", "alpha in [0, 100] pixels",
       [](double x) { return x >= 0 && x <= 100; },
       [](const L& l) { return double(l.augment.elastic_alpha); },
       [](L& l, double v) { l.augment.elastic_alpha = float(v); }},
      {"elastic_sigma", "--augment", "sigma in [0, 8] pixels",
       [](double x) { return x >= 0 && x <= kMaxElasticSigma; },
       [](const L& l) { return double(l.augment.elastic_sigma); },
       [](L& l, double v) { l.augment.elastic_sigma = float(v); }},
      {"beta1", "--beta1", "a value in [0, 1)", unit_open,
       [](const L& l) { return double(l.beta1); }, [](L& l, double v) { l.beta1 = float(v); },
       "0.9", "Adam's first-moment decay in [0, 1); list"},
      {"beta2", "--beta2", "a value in [0, 1)", unit_open,
       [](const L& l) { return double(l.beta2); }, [](L& l, double v) { l.beta2 = float(v); },
       "0.999", "Adam's second-moment decay in [0, 1); list"},
      {"eps", "--eps", "a value > 0", [](double x) { return std::isfinite(x) && x > 0; },
       [](const L& l) { return double(l.eps); }, [](L& l, double v) { l.eps = float(v); }, "1e-8",
       "Adam's denominator term > 0; list"},
      {"label_smoothing", "--label-smoothing", "a value in [0, 1)", unit_open,
       [](const L& l) { return double(l.label_smoothing); },
       [](L& l, double v) { l.label_smoothing = float(v); }, "0",
       "the training loss's label smoothing in [0, 1), as PyTorch's cross_entropy; list"},
      {"ema", "--ema", "a decay in (0, 1), or 0 for none", unit_open,
       [](const L& l) { return double(l.ema); }, [](L& l, double v) { l.ema = float(v); }, "0",
       "decay of a moving average of the weights and batch-norm statistics, updated every "
       "step, which validation, test and the saved models use (AveragedModel with an EMA "
       "function), e.g. 0.999; 0: none; list"},
      {"warmup", "--warmup", "a whole number of epochs from 0 to 1000",
       [](double x) { return x >= 0 && x <= 1000 && x == std::floor(x); },
       [](const L& l) { return double(l.schedule.warmup); },
       [](L& l, double v) { l.schedule.warmup = int(v); }},
  };
  return table;
}

const Hyperparameter* find_hyperparameter(const std::string& name) {
  for (const Hyperparameter& h : lane_hyperparameters())
    if (name == h.name) return &h;
  return nullptr;
}

double default_value(const Hyperparameter& h) {
  return h.list_default ? double(float(std::strtod(h.list_default, nullptr))) : NAN;
}

nlohmann::json recorded_settings(const LaneSettings& lane) {
  nlohmann::json out = nlohmann::json::object();
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default && (h.always_recorded || h.get(lane) != default_value(h)))
      out[h.name] = float(h.get(lane));
  return out;
}

nlohmann::json model_hyperparameters(const LaneSettings& lane, int batch) {
  nlohmann::json out = recorded_settings(lane);
  out["seed"] = std::to_string(lane.seed);
  out["batch"] = batch;
  return out;
}

std::string recorded_flags(const LaneSettings& lane, int precision) {
  std::ostringstream out;
  out.precision(precision);
  for (const Hyperparameter& h : lane_hyperparameters())
    if (h.list_default && (h.always_recorded || h.get(lane) != default_value(h)))
      out << " " << h.flag << " " << h.get(lane);
  return out.str();
}

std::string lane_refusal(const LaneSettings& lane, const Hyperparameter** which) {
  for (const Hyperparameter& h : lane_hyperparameters()) {
    const double v = h.get(lane);
    if (h.accepts(v)) continue;
    if (which) *which = &h;
    std::ostringstream out;
    out << "expected " << h.rule << ", got " << v;
    return out.str();
  }
  return "";
}

}  // namespace sgdlab
