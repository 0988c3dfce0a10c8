#pragma once
// What a search maximises for each trial, from its pack's last epoch. Samplers, the
// pruner, narrowing and the choice of the best trial read a trial's value as "higher is
// better", so the losses are stored negated; format_value shows them as losses again.
//   val_acc         accuracy on the validation images (the paper's; the default)
//   val_loss        cross-entropy on the validation images
//   distorted_acc   accuracy on the validation images under fixed random distortions
//   distorted_loss  cross-entropy on them (engine/distort.hpp:
//                   robust_validation_distortion)
// The distorted objectives see what plain validation cannot: how a network copes with
// digits shifted, turned and scaled, as the test set's differently written digits are
// (docs/record-notes.md).
#include <string>

#include "sgdlab/engine/distort.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

enum class Objective { ValAcc, ValLoss, DistortedAcc, DistortedLoss };

// "val_acc", ... and back; parse_objective throws InputError naming the choices.
std::string objective_name(Objective o);
Objective parse_objective(const std::string& name);
// Whether it needs the ValDistorted split.
bool needs_distorted_val(Objective o);
// The distorted validation set the data must be made with for it (none: 0 copies).
Distortion validation_distortion(Objective o, const Shape3& image);
// Its counterpart on the plain validation set (val_acc or val_loss): what the per-epoch
// values, which the pruner reads, are.
Objective plain_counterpart(Objective o);
// Throws InputError unless 1 <= objective_epochs <= epochs.
void check_objective_epochs(int objective_epochs, int epochs);
// The value stored for a trial, from its lane's evaluation of the split the objective
// reads (Val or ValDistorted).
double objective_value(Objective o, const EvalStats& stats);
// What a study keeps as its objective: the name, and "over the last K epochs" for K > 1.
std::string objective_label(Objective o, int epochs);
// The objective of a label (its first word).
Objective objective_of_label(const std::string& label);
// A value as people read it: "99.52%" for accuracies, "loss 0.0134" for losses.
std::string format_value(Objective o, double value);

}  // namespace sgdlab
