#pragma once
// A trial's parameters as a lane's training settings: lr, momentum and dropout as they
// are; weight_decay; augment, a strength a in [0, 1] that is a random shift of up to
// a * (image side / 8) pixels, a rotation of up to 15a degrees and a scale change of up
// to 15a %; shift (pixels), rotate (degrees) and scale (relative), each the width of
// its own part of the random affine transform, and each replacing the strength's for
// that part; nesterov, 0 or 1; schedule, 0 constant, 1 cosine over the run's epochs,
// 2 cosine over its steps, 3 onecycle (engine/schedule.hpp); warmup, epochs of linear
// warm-up (not with onecycle, whose rise is its warm-up: there it is left out);
// label_smoothing, the training loss's; optimizer, 0 SGD, 1 Adam, 2 AdamW (one per pack:
// a sweep packs the trials of one optimizer together), with beta1 and beta2 (nesterov
// and momentum are SGD's and left out with Adam).
// Parameters a space does not have stay off.
#include <cstdint>

#include "sgdlab/engine/trainer.hpp"
#include "sgdlab/search/space.hpp"

namespace sgdlab {

LaneSettings lane_settings(const ParamValues& params, uint64_t seed, int epochs,
                           const Shape3& image);

// A trial's architecture: its index in the sweep's list of models (0 where the space has
// none); an InputError for a value that is not a whole number >= 0.
int architecture_of(const ParamValues& params);

// A trial's optimizer (SGD where the space has none); an InputError for another code.
OptimizerKind optimizer_of(const ParamValues& params);

// The augmentation a strength gives for images of this shape.
Augment augment_of_strength(double strength, const Shape3& image);

}  // namespace sgdlab
