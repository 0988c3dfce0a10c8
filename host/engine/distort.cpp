#include "sgdlab/engine/distort.hpp"

#include <algorithm>

#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

Dataset distorted_copies(const Dataset& d, const Distortion& how, float background) {
  SGDLAB_CHECK(how.copies >= 0, "a number of copies >= 0, got ", how.copies);
  const Shape3& s = d.image;
  SGDLAB_CHECK(size_t(d.features) == size_t(s.C) * s.H * s.W, "images of ", s.C, "x", s.H, "x", s.W,
               " features");
  Dataset out;
  out.features = d.features;
  out.image = s;
  out.from_uint8 = d.from_uint8;
  const size_t n = d.size(), plane = size_t(s.H) * s.W;
  out.x.resize(size_t(how.copies) * n * size_t(d.features));
  out.y.reserve(size_t(how.copies) * n);
  for (int c = 0; c < how.copies; ++c) {
    for (size_t i = 0; i < n; ++i) {
      const Affine A = augment_transform(how.seed, uint64_t(c), uint32_t(i), how.widths.shift,
                                         how.widths.rotate, how.widths.scale, s.H, s.W);
      const float* in = d.x.data() + i * size_t(d.features);
      float* o = out.x.data() + (size_t(c) * n + i) * size_t(d.features);
      for (int ch = 0; ch < s.C; ++ch)
        for (int y = 0; y < s.H; ++y)
          for (int x = 0; x < s.W; ++x)
            o[ch * plane + size_t(y) * s.W + x] =
                augment_pixel(in + ch * plane, s.H, s.W, A, y, x, background);
    }
    out.y.insert(out.y.end(), d.y.begin(), d.y.end());
  }
  return out;
}

Distortion robust_validation_distortion(const Shape3& image) {
  Distortion d;
  d.copies = 8;
  d.widths = {float(std::max(image.H, image.W)) / 8.0f, 15.0f, 0.15f};
  return d;
}

}  // namespace sgdlab
