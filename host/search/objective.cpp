#include "sgdlab/search/objective.hpp"

#include <cmath>
#include <sstream>
#include <utility>
#include <vector>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

const std::vector<std::pair<Objective, std::string>>& names() {
  static const std::vector<std::pair<Objective, std::string>> n = {
      {Objective::ValAcc, "val_acc"},
      {Objective::ValLoss, "val_loss"},
      {Objective::DistortedAcc, "distorted_acc"},
      {Objective::DistortedLoss, "distorted_loss"}};
  return n;
}

bool is_loss(Objective o) {
  return o == Objective::ValLoss || o == Objective::DistortedLoss;
}

}  // namespace

std::string objective_name(Objective o) {
  for (const auto& [value, name] : names())
    if (value == o) return name;
  SGDLAB_THROW("unknown objective ", int(o));
}

Objective parse_objective(const std::string& name) {
  for (const auto& [value, text] : names())
    if (text == name) return value;
  SGDLAB_INPUT_ERROR(
      "--objective: expected val_acc, val_loss, distorted_acc or distorted_loss, "
      "got '",
      name, "'");
}

bool needs_distorted_val(Objective o) {
  return o == Objective::DistortedAcc || o == Objective::DistortedLoss;
}

Distortion validation_distortion(Objective o, const Shape3& image) {
  return needs_distorted_val(o) ? robust_validation_distortion(image) : Distortion{};
}

Objective plain_counterpart(Objective o) {
  return is_loss(o) ? Objective::ValLoss : Objective::ValAcc;
}

void check_objective_epochs(int objective_epochs, int epochs) {
  if (objective_epochs < 1 || objective_epochs > epochs)
    SGDLAB_INPUT_ERROR("--objective-epochs: expected a number of epochs from 1 to --epochs (",
                       epochs, "), got ", objective_epochs);
}

double objective_value(Objective o, const EvalStats& stats) {
  return is_loss(o) ? -stats.loss : stats.acc;
}

std::string objective_label(Objective o, int epochs) {
  return objective_name(o) +
         (epochs > 1 ? " over the last " + std::to_string(epochs) + " epochs" : "");
}

Objective objective_of_label(const std::string& label) {
  return parse_objective(label.substr(0, label.find(' ')));
}

std::string format_value(Objective o, double value) {
  if (!std::isfinite(value)) return "-";
  std::ostringstream s;
  s.setf(std::ios::fixed);
  if (is_loss(o)) {
    s.precision(4);
    s << "loss " << -value;
  } else {
    s.precision(2);
    s << 100 * value << "%";
  }
  return s.str();
}

}  // namespace sgdlab
