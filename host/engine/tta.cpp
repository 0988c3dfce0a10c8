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

std::vector<float> channel_minimum(const Dataset& d) {
  const size_t C = size_t(d.image.C), plane = size_t(d.image.H) * d.image.W;
  SGDLAB_CHECK(d.size() > 0 && d.x.size() == d.size() * C * plane, "images [n, C, H, W], n > 0");
  std::vector<float> low(C);
  for (size_t c = 0; c < C; ++c) {
    low[c] = d.x[c * plane];
    for (size_t i = 0; i < d.size(); ++i) {
      const float* p = d.x.data() + (i * C + c) * plane;
      low[c] = std::min(low[c], *std::min_element(p, p + plane));
    }
  }
  return low;
}

Dataset shifted_images(const Dataset& d, PixelShift s, const std::vector<float>& background) {
  SGDLAB_CHECK(background.size() == size_t(d.image.C), "one background value per channel");
  Dataset out = d;
  const int H = d.image.H, W = d.image.W, C = d.image.C;
  const size_t plane = size_t(H) * W, planes = d.size() * size_t(C);
  for (size_t p = 0; p < planes; ++p) {
    const float* src = d.x.data() + p * plane;
    float* dst = out.x.data() + p * plane;
    for (int r = 0; r < H; ++r)
      for (int c = 0; c < W; ++c) {
        const int from_r = r - s.dy, from_c = c - s.dx;
        const bool inside = from_r >= 0 && from_r < H && from_c >= 0 && from_c < W;
        dst[r * W + c] = inside ? src[from_r * W + from_c] : background[p % C];
      }
  }
  return out;
}

std::vector<std::vector<float>> view_probabilities(Backend& backend, const ModelSpec& model,
                                                   const std::vector<float>& params,
                                                   const Dataset& images, int pixels) {
  const std::vector<PixelShift> views = tta_views(pixels);
  if (pixels >= images.image.H || pixels >= images.image.W)
    SGDLAB_INPUT_ERROR("test-time shift: ", pixels, " pixels moves a ", images.image.H, "x",
                       images.image.W, " image out of view (expected less than its side)");
  if (images.size() == 0) SGDLAB_INPUT_ERROR("test-time shift: no images");
  const std::vector<float> background = channel_minimum(images);
  std::vector<std::vector<float>> out;
  for (const PixelShift& s : views) {
    const Dataset view = shifted_images(images, s, background);
    // The view serves as every split: only its test pass runs, one lane, no training.
    const UspsData data{view, view, view, ""};
    DeviceData device_data(backend, data);
    check_data_fits(device_data, model);
    TrainerOptions evaluate_only{1};
    evaluate_only.trains = false;
    Trainer trainer(backend, device_data, model, {LaneSettings{}}, evaluate_only);
    trainer.set_parameters(params);
    out.push_back(trainer.probabilities(Split::Test));
  }
  return out;
}

std::vector<float> mean_over_views(const std::vector<std::vector<float>>& views) {
  SGDLAB_CHECK(!views.empty(), "at least one view");
  std::vector<float> mean(views[0].size(), 0.0f);
  for (const auto& p : views) {
    SGDLAB_CHECK(p.size() == mean.size(), "views of the same images");
    for (size_t i = 0; i < p.size(); ++i) mean[i] += p[i] / float(views.size());
  }
  return mean;
}

std::vector<float> tta_probabilities(Backend& backend, const ModelSpec& model,
                                     const std::vector<float>& params, const Dataset& images,
                                     int pixels) {
  return mean_over_views(view_probabilities(backend, model, params, images, pixels));
}

}  // namespace sgdlab
