#pragma once
// Where the cuBLASLt epilogue check (gpu_dense.cu) puts its operands, and how it compares
// the two paths' outputs. Each tensor starts on a slice boundary, as in training, so the
// outputs have padding between them that neither path writes: it holds whatever the
// allocator left there, and comparing it would make the verdict (and with it the GEMM
// path training takes) depend on allocation history. Only the written ranges count.
// Plain C++: the CPU tests check it.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab {

struct FloatRange {
  size_t offset, length;
};

struct EpilogueCheckLayout {
  // Each tensor's extent, rounded up to a slice boundary.
  size_t nx, nw, nb, ny;
  // What the forward pass and the weight gradient write: y, dW, db.
  size_t y_floats, dw_floats, db_floats;

  size_t inputs() const { return nx + nw + nb + ny; }  // x | w | b | dy
  size_t outputs() const { return ny + nw + nb; }      // y | dW | db
  // The floats of the output region the two paths write, y, dW and db in that order.
  std::array<FloatRange, 3> written() const {
    return {FloatRange{0, y_floats}, FloatRange{ny, dw_floats}, FloatRange{ny + nw, db_floats}};
  }
};

inline EpilogueCheckLayout epilogue_check_layout(const DenseDims& d) {
  auto aligned = [](size_t n) {
    return (n + kSliceAlignFloats - 1) / kSliceAlignFloats * kSliceAlignFloats;
  };
  const size_t y = size_t(d.B) * d.T * d.out, w = size_t(d.T) * d.in * d.out,
               b = size_t(d.T) * d.out;
  return {aligned(size_t(d.B) * d.T * d.in), aligned(w), aligned(b), aligned(y), y, w, b};
}

// ||got - want|| / ||want|| over the written ranges only; a non-finite difference counts
// as a huge one.
inline double written_relative_error(const EpilogueCheckLayout& layout, const float* got,
                                     const float* want) {
  double num = 0, den = 0;
  for (const FloatRange& r : layout.written())
    for (size_t i = r.offset; i < r.offset + r.length; ++i) {
      const double diff = double(got[i]) - want[i];
      num += std::isfinite(diff) ? diff * diff : 1e30;
      den += double(want[i]) * want[i];
    }
  return std::sqrt(num / std::max(den, 1e-60));
}

}  // namespace sgdlab
