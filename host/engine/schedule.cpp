#include "sgdlab/engine/schedule.hpp"

#include <cstdlib>
#include <sstream>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

// "onecycle" or "onecycle:PCT" with 0 < PCT < 1; false for anything else.
bool parse_one_cycle(const std::string& text, Schedule& s) {
  if (text == "onecycle") return true;
  if (text.rfind("onecycle:", 0) != 0) return false;
  const char* start = text.c_str() + 9;
  char* end = nullptr;
  const double pct = std::strtod(start, &end);
  if (end == start || *end != '\0' || !(pct > 0 && pct < 1)) return false;
  s.pct_start = pct;
  return true;
}

bool parse_step(const std::string& text, Schedule& s) {
  if (text.rfind("step:", 0) != 0) return false;
  const std::string rest = text.substr(5);
  const size_t colon = rest.find(':');
  char* end1 = nullptr;
  char* end2 = nullptr;
  const long e = std::strtol(rest.c_str(), &end1, 10);
  const double g = colon == std::string::npos ? 0 : std::strtod(rest.c_str() + colon + 1, &end2);
  if (!(colon != std::string::npos && end1 == rest.c_str() + colon && end2 && *end2 == '\0' &&
        e >= 1 && e < (1 << 20) && g > 0 && g <= 1))
    return false;
  s.step_epochs = int(e);
  s.gamma = float(g);
  return true;
}

// The fewest significant digits that read back as `v`: 0.3, not 0.29999999999999999.
std::string shortest(double v) {
  for (int digits = 1;; ++digits) {
    std::ostringstream text;
    text.precision(digits);
    text << v;
    if (std::strtod(text.str().c_str(), nullptr) == v || digits >= 17) return text.str();
  }
}

}  // namespace

Schedule parse_schedule(const std::string& text, int warmup, int epochs) {
  Schedule s;
  s.warmup = warmup;
  s.epochs = epochs;
  if (warmup < 0) SGDLAB_INPUT_ERROR("--warmup: expected epochs >= 0, got ", warmup);
  if (text == "constant") return s;
  if (text == "cosine" || text == "cosine-per-step") {
    s.kind = text == "cosine" ? Schedule::Cosine : Schedule::CosinePerStep;
    return s;
  }
  if (parse_step(text, s)) {
    s.kind = Schedule::Step;
    return s;
  }
  if (parse_one_cycle(text, s)) {
    if (warmup != 0)
      SGDLAB_INPUT_ERROR("--warmup: onecycle warms up by itself (its first PCT of the steps); ",
                         "expected 0, got ", warmup);
    s.kind = Schedule::OneCycle;
    return s;
  }
  SGDLAB_INPUT_ERROR("--schedule: expected constant, step:EPOCHS:GAMMA (EPOCHS >= 1, 0 < GAMMA ",
                     "<= 1), cosine, cosine-per-step or onecycle[:PCT] (0 < PCT < 1), got '", text,
                     "'");
}

std::string to_string(const Schedule& s) {
  std::string out = schedule_argument(s);
  if (s.kind == Schedule::CosinePerStep) out = "cosine per step";
  if (s.kind == Schedule::OneCycle) {
    std::ostringstream text;
    text << "onecycle (peak after " << shortest(s.pct_start * 100) << "% of the steps)";
    out = text.str();
  }
  if (!s.warmup) return out;
  return out + " after " + std::to_string(s.warmup) + " warm-up epochs";
}

std::string schedule_argument(const Schedule& s) {
  switch (s.kind) {
    case Schedule::Constant:
      return "constant";
    case Schedule::Step:
      return "step:" + std::to_string(s.step_epochs) + ":" + std::to_string(s.gamma);
    case Schedule::Cosine:
      return "cosine";
    case Schedule::CosinePerStep:
      return "cosine-per-step";
    case Schedule::OneCycle:
      return "onecycle:" + shortest(s.pct_start);
  }
  return "constant";
}

RateSchedule rate_schedule(float base, const Schedule& s, int steps_per_epoch) {
  RateSchedule r;
  r.base = base;
  r.step_every = s.step_epochs;
  r.gamma = s.gamma;
  r.pct_start = s.pct_start;
  const int64_t unit = s.per_step() ? 1 : std::max(steps_per_epoch, 1);
  r.unit_steps = int32_t(unit);
  r.length = s.per_step() ? int64_t(s.epochs) * std::max(steps_per_epoch, 1) : s.epochs;
  r.warmup = s.per_step() ? int32_t(int64_t(s.warmup) * std::max(steps_per_epoch, 1)) : s.warmup;
  switch (s.kind) {
    case Schedule::Constant:
      r.shape = RateShape::Constant;
      break;
    case Schedule::Step:
      r.shape = RateShape::Step;
      break;
    case Schedule::Cosine:
    case Schedule::CosinePerStep:
      r.shape = RateShape::Cosine;
      break;
    case Schedule::OneCycle:
      r.shape = RateShape::OneCycle;
      // PyTorch divides by the rise's length, pct_start * steps - 1 (a ZeroDivisionError
      // there); the fall's, steps * (1 - pct_start), is never 0. (A product compared, not
      // a difference: the compiler may fuse a multiply-subtract and miss the 0.)
      if (r.pct_start * double(r.length) == 1.0 || r.length < 2)
        SGDLAB_INPUT_ERROR("--schedule onecycle:", s.pct_start, ": a rise of ", r.pct_start, " of ",
                           r.length, " steps ends at step 0, where PyTorch divides by 0;",
                           " expected another PCT or more steps");
      break;
  }
  return r;
}

float scheduled_lr(float base, const Schedule& s, int epoch, int steps_per_epoch) {
  const int64_t first_step = int64_t(epoch) * std::max(steps_per_epoch, 1);
  return scheduled_rate(rate_schedule(base, s, steps_per_epoch), first_step);
}

}  // namespace sgdlab
