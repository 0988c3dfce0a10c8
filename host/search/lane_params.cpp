#include "sgdlab/search/lane_params.hpp"

#include <cmath>

#include <algorithm>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/hyperparameters.hpp"

namespace sgdlab {

Augment augment_of_strength(double strength, const Shape3& image) {
  const float a = float(strength);
  return {a * float(std::max(image.H, image.W)) / 8.0f, 15.0f * a, 0.15f * a};
}

LaneSettings lane_settings(const ParamValues& p, uint64_t seed, int epochs, const Shape3& image) {
  for (const char* always : {"lr", "momentum", "dropout"})
    SGDLAB_CHECK(p.count(always), "every space has ", always);
  LaneSettings s;
  s.seed = seed;
  // The tied strength first: its independent parts, set below, override it one by one.
  if (const auto it = p.find("augment"); it != p.end())
    s.augment = augment_of_strength(it->second, image);
  if (const auto it = p.find("schedule"); it != p.end() && it->second != 0) {
    s.schedule.kind = it->second == 1   ? Schedule::Cosine
                      : it->second == 2 ? Schedule::CosinePerStep
                                        : Schedule::OneCycle;
    s.schedule.epochs = epochs;
  }
  for (const Hyperparameter& h : lane_hyperparameters())
    if (const auto it = p.find(h.name); it != p.end()) h.set(s, it->second);
  // OneCycle's warm-up is its own rise.
  if (s.schedule.kind == Schedule::OneCycle) s.schedule.warmup = 0;
  if (optimizer_of(p) != OptimizerKind::Sgd) s.nesterov = false;  // a setting of SGD
  return s;
}

int architecture_of(const ParamValues& p) {
  const auto it = p.find("architecture");
  if (it == p.end()) return 0;
  if (!(it->second >= 0 && it->second <= 1e6 && it->second == std::floor(it->second)))
    SGDLAB_INPUT_ERROR("architecture: expected an index into the list of models, got ", it->second);
  return int(it->second);
}

OptimizerKind optimizer_of(const ParamValues& p) {
  const auto it = p.find("optimizer");
  if (it == p.end() || it->second == 0) return OptimizerKind::Sgd;
  if (it->second == 1) return OptimizerKind::Adam;
  if (it->second == 2) return OptimizerKind::AdamW;
  SGDLAB_INPUT_ERROR("optimizer: expected 0 (sgd), 1 (adam) or 2 (adamw), got ", it->second);
}

}  // namespace sgdlab
