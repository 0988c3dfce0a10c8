#include "sgdlab/engine/schedule.hpp"

#include <cmath>
#include <cstdlib>

#include "sgdlab/core/error.hpp"

namespace sgdlab {

Schedule parse_schedule(const std::string& text, int warmup, int epochs) {
  Schedule s;
  s.warmup = warmup;
  s.epochs = epochs;
  if (warmup < 0) SGDLAB_INPUT_ERROR("--warmup: expected epochs >= 0, got ", warmup);
  if (text == "constant") return s;
  if (text == "cosine") {
    s.kind = Schedule::Cosine;
    return s;
  }
  if (text.rfind("step:", 0) == 0) {
    const std::string rest = text.substr(5);
    const size_t colon = rest.find(':');
    char* end1 = nullptr;
    char* end2 = nullptr;
    const long e = std::strtol(rest.c_str(), &end1, 10);
    const double g = colon == std::string::npos ? 0 : std::strtod(rest.c_str() + colon + 1, &end2);
    if (colon != std::string::npos && end1 == rest.c_str() + colon && end2 && *end2 == '\0' &&
        e >= 1 && e < (1 << 20) && g > 0 && g <= 1) {
      s.kind = Schedule::Step;
      s.step_epochs = int(e);
      s.gamma = float(g);
      return s;
    }
  }
  SGDLAB_INPUT_ERROR("--schedule: expected constant, step:EPOCHS:GAMMA (EPOCHS >= 1, 0 < GAMMA ",
                     "<= 1) or cosine, got '", text, "'");
}

std::string to_string(const Schedule& s) {
  std::string out = s.kind == Schedule::Cosine ? "cosine"
                    : s.kind == Schedule::Step
                        ? "step:" + std::to_string(s.step_epochs) + ":" + std::to_string(s.gamma)
                        : "constant";
  return s.warmup ? out + " after " + std::to_string(s.warmup) + " warm-up epochs" : out;
}

float scheduled_lr(float base, const Schedule& s, int epoch) {
  double lr = base;
  if (s.kind == Schedule::Step) lr *= std::pow(double(s.gamma), epoch / s.step_epochs);
  if (s.kind == Schedule::Cosine)
    lr *= 0.5 * (1.0 + std::cos(M_PI * double(epoch) / double(std::max(s.epochs, 1))));
  if (epoch < s.warmup) lr *= double(epoch + 1) / double(s.warmup + 1);
  return float(lr);
}

}  // namespace sgdlab
