#include "sgdlab/search/lane_params.hpp"

#include <algorithm>

namespace sgdlab {

Augment augment_of_strength(double strength, const Shape3& image) {
  const float a = float(strength);
  return {a * float(std::max(image.H, image.W)) / 8.0f, 15.0f * a, 0.15f * a};
}

LaneSettings lane_settings(const ParamValues& p, uint64_t seed, int epochs, const Shape3& image) {
  LaneSettings s{float(p.at("lr")), float(p.at("momentum")), float(p.at("dropout")), seed};
  if (const auto it = p.find("weight_decay"); it != p.end()) s.weight_decay = float(it->second);
  if (const auto it = p.find("augment"); it != p.end())
    s.augment = augment_of_strength(it->second, image);
  // Independent widths override the tied strength's, one by one.
  if (const auto it = p.find("shift"); it != p.end()) s.augment.shift = float(it->second);
  if (const auto it = p.find("rotate"); it != p.end()) s.augment.rotate = float(it->second);
  if (const auto it = p.find("scale"); it != p.end()) s.augment.scale = float(it->second);
  if (const auto it = p.find("nesterov"); it != p.end()) s.nesterov = it->second == 1;
  if (const auto it = p.find("schedule"); it != p.end() && it->second != 0) {
    s.schedule.kind = it->second == 1   ? Schedule::Cosine
                      : it->second == 2 ? Schedule::CosinePerStep
                                        : Schedule::OneCycle;
    s.schedule.epochs = epochs;
  }
  // OneCycle's warm-up is its own rise.
  if (const auto it = p.find("warmup"); it != p.end() && s.schedule.kind != Schedule::OneCycle)
    s.schedule.warmup = int(it->second);
  return s;
}

}  // namespace sgdlab
