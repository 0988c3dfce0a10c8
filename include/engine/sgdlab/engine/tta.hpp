#pragma once
// Test-time augmentation: a trained network's class probabilities averaged over each
// image and its four copies moved by a few pixels (right, left, down, up), so that a
// digit written off centre is also seen where training mostly saw digits. The views are
// made on the host, so both backends run the same inference.
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/model.hpp"

namespace sgdlab {

struct PixelShift {
  int dx = 0, dy = 0;  // columns to the right, rows down
};

// The views for a shift of `pixels`: the image itself first, then moved right, left,
// down and up. Only the image itself for 0. Throws InputError for a negative shift.
std::vector<PixelShift> tta_views(int pixels);

// The smallest value of each channel over the images of `d`: the background a shift
// moves in (USPS's -1; 0 for uint8 pixels scaled to [0, 1]; (0 - mean) / stddev when
// standardised).
std::vector<float> channel_minimum(const Dataset& d);

// Each image of `d` moved by `s`; what moves in from outside is background[channel].
Dataset shifted_images(const Dataset& d, PixelShift s, const std::vector<float>& background);

// One network (a T = 1 flat parameter buffer of NetworkPlan(model, 1)) on `images`,
// scaled as it was trained: its probabilities [n, classes] on each of tta_views(pixels),
// in that order (the first is the images as they are), with channel_minimum(images)
// moved in. Throws InputError for a shift that is not less than the image's side, or no
// images.
std::vector<std::vector<float>> view_probabilities(Backend& backend, const ModelSpec& model,
                                                   const std::vector<float>& params,
                                                   const Dataset& images, int pixels);

// The mean of view_probabilities over the views.
std::vector<float> mean_over_views(const std::vector<std::vector<float>>& views);

// mean_over_views(view_probabilities(...)).
std::vector<float> tta_probabilities(Backend& backend, const ModelSpec& model,
                                     const std::vector<float>& params, const Dataset& images,
                                     int pixels);

}  // namespace sgdlab
