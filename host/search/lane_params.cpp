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
  if (const auto it = p.find("schedule"); it != p.end() && it->second == 1) {
    s.schedule.kind = Schedule::Cosine;
    s.schedule.epochs = epochs;
  }
  return s;
}

}  // namespace sgdlab
