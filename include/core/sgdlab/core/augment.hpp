#pragma once
// Training-time augmentation: each training image of a lane gets its own random affine
// transform (a shift, a rotation about the centre, a scale) and, optionally, an elastic
// distortion (Simard, Steinkraus & Platt, ICDAR 2003), drawn from the lane's Philox
// stream at the global step, and is resampled bilinearly, once, with the data set's
// background outside the image. One body for both backends: the CPU op and the CUDA
// kernels call these per output pixel.
#include <cmath>
#include <cstdint>

#include "sgdlab/core/host_device.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab {

constexpr uint32_t kPhiloxTagAugment = 0x4155474Du;  // "AUGM"
constexpr uint32_t kPhiloxTagElastic = 0x454C4153u;  // "ELAS"

// A lane's augmentation settings in LaneArrays::augment, kAugmentFields per lane.
enum : int {
  kAugmentShift,         // pixels
  kAugmentRotate,        // degrees
  kAugmentScale,         // relative
  kAugmentElasticAlpha,  // the elastic displacement's scale, pixels (0: none)
  kAugmentElasticSigma,  // its smoothing, the Gaussian's standard deviation in pixels
  kAugmentFields
};

// The elastic smoothing kernel is cut at kElasticTruncate standard deviations (as
// scipy.ndimage.gaussian_filter), so sigma <= kMaxElasticSigma keeps within the taps.
constexpr float kMaxElasticSigma = 8.0f;
constexpr int kMaxElasticRadius = 32;
constexpr float kElasticTruncate = 4.0f;

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

// The normalised Gaussian of an elastic distortion: w[0 .. 2R] for offsets -R .. R, R
// returned (sigma 0: R = 0, w[0] = 1, no smoothing). `w` holds 2 kMaxElasticRadius + 1
// taps: a sigma above kMaxElasticSigma (which training refuses) is cut to that radius
// rather than written past them.
SGDLAB_HD int elastic_taps(float sigma, float* w) {
  const int wanted = int(kElasticTruncate * sigma + 0.5f);
  const int R = wanted < kMaxElasticRadius ? wanted : kMaxElasticRadius;
  float sum = 0;
  for (int k = -R; k <= R; ++k) {
    w[k + R] = R ? expf(-0.5f * float(k * k) / (sigma * sigma)) : 1.0f;
    sum += w[k + R];
  }
  for (int k = 0; k <= 2 * R; ++k) w[k] /= sum;
  return R;
}

// The elastic distortion's noise at pixel p of an image: a displacement (y, x), each
// uniform in [-1, 1), before smoothing.
struct Displacement {
  float y, x;
};
SGDLAB_HD Displacement elastic_noise(uint64_t seed, uint64_t step, uint32_t image, uint32_t p) {
  const Philox4 r = philox4x32_10(Philox4{{p, image, uint32_t(step), uint32_t(step >> 32)}},
                                  uint32_t(seed) ^ kPhiloxTagElastic, uint32_t(seed >> 32));
  return {2.0f * philox_unit_float(r.v[0]) - 1.0f, 2.0f * philox_unit_float(r.v[1]) - 1.0f};
}

// The first, horizontal pass of the smoothing at (y, x): the noise of row y under the
// taps, zero outside the image (scipy's mode="constant").
SGDLAB_HD Displacement elastic_row_pass(uint64_t seed, uint64_t step, uint32_t image, int W,
                                        const float* w, int R, int y, int x) {
  Displacement sum{0, 0};
  for (int k = -R; k <= R; ++k) {
    const int c = x + k;
    if (c < 0 || c >= W) continue;
    const Displacement n = elastic_noise(seed, step, image, uint32_t(y * W + c));
    sum.y += w[k + R] * n.y;
    sum.x += w[k + R] * n.x;
  }
  return sum;
}

// The second, vertical pass over the first pass's plane `rows` ([H * W]), scaled by alpha:
// the displacement of pixel (y, x).
SGDLAB_HD Displacement elastic_column_pass(const Displacement* rows, int H, int W, const float* w,
                                           int R, float alpha, int y, int x) {
  Displacement sum{0, 0};
  for (int k = -R; k <= R; ++k) {
    const int r = y + k;
    if (r < 0 || r >= H) continue;
    sum.y += w[k + R] * rows[r * W + x].y;
    sum.x += w[k + R] * rows[r * W + x].x;
  }
  return {alpha * sum.y, alpha * sum.x};
}

// Pixel (y, x) of the transformed plane: bilinear between the four input pixels around
// where it comes from (the affine transform's source moved by the elastic displacement
// u), each outside the image counting as the background.
SGDLAB_HD float augment_pixel(const float* plane, int H, int W, const Affine& A, int y, int x,
                              float background, Displacement u = {0, 0}) {
  const float oy = float(y) - A.ty - A.cy, ox = float(x) - A.tx - A.cx;
  const float sy = A.a00 * oy + A.a01 * ox + A.cy + u.y;
  const float sx = A.a10 * oy + A.a11 * ox + A.cx + u.x;
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
