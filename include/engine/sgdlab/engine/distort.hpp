#pragma once
// Fixed distorted copies of a split's images: what the robust objectives of a search
// (search/objective.hpp) evaluate. Copy c of image i is image i under the random affine
// transform that training-time augmentation draws (core/augment.hpp) with the
// distortion's seed at "step" c, so the set is the same on every device, for every
// trial and in every run.
#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

// `copies` copies of each image of `d` (copy-major: all images of copy 0 first), each
// channel under its image's transform, `background` outside the image; the labels follow.
Dataset distorted_copies(const Dataset& d, const Distortion& how, float background);

// The distortion of the robust objectives for images of this shape: 8 copies, shifts up
// to a eighth of the image's side (2 pixels on USPS), rotations up to 15 degrees and
// scale changes up to 15%: the widest the tied `augment` strength of the `beyond` space
// could draw, fixed before any of the measurements of docs/record-notes.md.
Distortion robust_validation_distortion(const Shape3& image);

}  // namespace sgdlab
