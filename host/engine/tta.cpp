#include "sgdlab/engine/tta.hpp"

#include <algorithm>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab {

std::vector<PixelShift> tta_views(int pixels) {
  if (pixels < 0) SGDLAB_INPUT_ERROR("test-time shift: expected 0 or more pixels, got ", pixels);
  if (pixels == 0) return {{0, 0}};
  return {{0, 0}, {pixels, 0}, {-pixels, 0}, {0, pixels}, {0, -pixels}};
}

Dataset shifted_images(const Dataset& d, PixelShift s, float background) {
  Dataset out = d;
  const int H = d.image.H, W = d.image.W;
  const size_t plane = size_t(H) * W, planes = d.size() * size_t(d.image.C);
  for (size_t p = 0; p < planes; ++p) {
    const float* src = d.x.data() + p * plane;
    float* dst = out.x.data() + p * plane;
    for (int r = 0; r < H; ++r)
      for (int c = 0; c < W; ++c) {
        const int from_r = r - s.dy, from_c = c - s.dx;
        const bool inside = from_r >= 0 && from_r < H && from_c >= 0 && from_c < W;
        dst[r * W + c] = inside ? src[from_r * W + from_c] : background;
      }
  }
  return out;
}

std::vector<float> tta_probabilities(Backend& backend, const ModelSpec& model,
                                     const std::vector<float>& params, const Dataset& images,
                                     int pixels) {
  const std::vector<PixelShift> views = tta_views(pixels);
  if (pixels >= images.image.H || pixels >= images.image.W)
    SGDLAB_INPUT_ERROR("test-time shift: ", pixels, " pixels moves a ", images.image.H, "x",
                       images.image.W, " image out of view (expected less than its side)");
  if (images.size() == 0) SGDLAB_INPUT_ERROR("test-time shift: no images");
  const float background = *std::min_element(images.x.begin(), images.x.end());
  std::vector<float> mean;
  for (const PixelShift& s : views) {
    const Dataset view = shifted_images(images, s, background);
    // The view serves as every split: only its test pass runs, one lane, no training.
    const UspsData data{view, view, view, ""};
    DeviceData device_data(backend, data);
    check_data_fits(device_data, model);
    Trainer trainer(backend, device_data, model, {LaneSettings{}}, TrainerOptions{1});
    trainer.set_parameters(params);
    const std::vector<float> p = trainer.probabilities(Split::Test);
    if (mean.empty()) mean.assign(p.size(), 0.0f);
    for (size_t i = 0; i < p.size(); ++i) mean[i] += p[i] / float(views.size());
  }
  return mean;
}

}  // namespace sgdlab
