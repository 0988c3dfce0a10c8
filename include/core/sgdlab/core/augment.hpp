#pragma once
// Training-time augmentation: each training image of a lane gets its own random affine
// transform (a shift, a rotation about the centre, a scale), drawn from the lane's
// Philox stream at the global step, and is resampled bilinearly with the data set's
// background outside the image. One body for both backends: the CPU op and the CUDA
// kernel call these per output pixel.
#include <cmath>
#include <cstdint>

#include "sgdlab/core/host_device.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab {

constexpr uint32_t kPhiloxTagAugment = 0x4155474Du;  // "AUGM"

// Where output pixel (y, x) reads from in the input: in = A (out - centre) + centre - t'.
struct Affine {
  float a00, a01, a10, a11;  // the inverse of scale * rotation
  float cy, cx;              // the centre of the image
  float ty, tx;              // the shift, in output pixels
};

// The transform of a given shift (pixels, down and right), rotation (degrees,
// counter-clockwise as the image is displayed) and scale.
SGDLAB_HD Affine affine_of(float shift_y, float shift_x, float degrees, float scale, int H, int W) {
  const float theta = degrees * 0.017453292519943295f;
  const float c = cosf(theta) / scale, s = sinf(theta) / scale;
  // Rows grow downwards, so a displayed counter-clockwise turn is clockwise in (y, x).
  return {c, s, -s, c, 0.5f * float(H - 1), 0.5f * float(W - 1), shift_y, shift_x};
}

// Image `image` of a lane at a global step: shift within +-max_shift pixels, rotation
// within +-max_degrees, scale within 1 +- max_scale, each uniform.
SGDLAB_HD Affine augment_transform(uint64_t seed, uint64_t step, uint32_t image, float max_shift,
                                   float max_degrees, float max_scale, int H, int W) {
  const Philox4 r =
      philox4x32_10(Philox4{{image, kPhiloxTagAugment, uint32_t(step), uint32_t(step >> 32)}},
                    uint32_t(seed), uint32_t(seed >> 32));
  auto symmetric = [](uint32_t bits) { return 2.0f * philox_unit_float(bits) - 1.0f; };
  return affine_of(max_shift * symmetric(r.v[0]), max_shift * symmetric(r.v[1]),
                   max_degrees * symmetric(r.v[2]), 1.0f + max_scale * symmetric(r.v[3]), H, W);
}

// Pixel (y, x) of the transformed plane: bilinear between the four input pixels around
// where it comes from, each outside the image counting as the background.
SGDLAB_HD float augment_pixel(const float* plane, int H, int W, const Affine& A, int y, int x,
                              float background) {
  const float oy = float(y) - A.ty - A.cy, ox = float(x) - A.tx - A.cx;
  const float sy = A.a00 * oy + A.a01 * ox + A.cy;
  const float sx = A.a10 * oy + A.a11 * ox + A.cx;
  const float fy = floorf(sy), fx = floorf(sx);
  const int y0 = int(fy), x0 = int(fx);
  const float wy = sy - fy, wx = sx - fx;
  auto at = [&](int r, int c) {
    return r >= 0 && r < H && c >= 0 && c < W ? plane[r * W + c] : background;
  };
  const float top = at(y0, x0) + wx * (at(y0, x0 + 1) - at(y0, x0));
  const float bottom = at(y0 + 1, x0) + wx * (at(y0 + 1, x0 + 1) - at(y0 + 1, x0));
  return top + wy * (bottom - top);
}

}  // namespace sgdlab
