#pragma once
// conv2d on [B, T, C, H, W] with lane-leading weights [T, Cout, Cin, k, k].
// Per lane: im2col over the whole batch into col[Cin*k*k, B*Ho*Wo], one GEMM with the
// lane's filters, then a scatter into the lane's channels. One big GEMM per lane beats
// B small ones on a CPU.
#include <algorithm>
#include <cstddef>

#include "cpu/blas.hpp"
#include "cpu/fixed_sum.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

// Elements of scratch the conv2d kernels need.
inline size_t conv2d_workspace(const ConvDims& d) {
  const size_t cols = size_t(d.B) * d.L();
  return size_t(d.patch()) * cols * 2 + size_t(d.Cout) * cols;
}

// Output columns ow in [lo, hi) read input column ow*stride - pad + j inside the image.
inline void valid_range(int out, int in, int stride, int pad, int j, int& lo, int& hi) {
  lo = 0;
  while (lo < out && lo * stride - pad + j < 0) ++lo;
  hi = out;
  while (hi > lo && (hi - 1) * stride - pad + j >= in) --hi;
}

// col[q, b*L + p] for lane t, q = (c*k + i)*k + j; zero outside the padded image.
template <class S>
void im2col_lane(const ConvDims& d, int t, const S* x, S* col) {
  const int L = d.L(), Ho = d.Ho(), Wo = d.Wo(), P = d.patch();
  const size_t cols = size_t(d.B) * L;
#pragma omp parallel for schedule(static) if (size_t(P) * cols > 32768)
  for (int q = 0; q < P; ++q) {
    const int c = q / (d.k * d.k), i = (q / d.k) % d.k, j = q % d.k;
    int lo, hi;
    valid_range(Wo, d.W, d.stride, d.pad, j, lo, hi);
    for (int b = 0; b < d.B; ++b) {
      const S* plane = x + ((size_t(b) * d.T + t) * d.Cin + c) * d.H * d.W;
      for (int oh = 0; oh < Ho; ++oh) {
        S* dst = col + size_t(q) * cols + size_t(b) * L + size_t(oh) * Wo;
        const int ih = oh * d.stride - d.pad + i;
        if (ih < 0 || ih >= d.H) {
          std::fill_n(dst, Wo, S(0));
          continue;
        }
        const S* src = plane + size_t(ih) * d.W - d.pad + j;
        std::fill_n(dst, lo, S(0));
        for (int ow = lo; ow < hi; ++ow) dst[ow] = src[ow * d.stride];
        std::fill(dst + hi, dst + Wo, S(0));
      }
    }
  }
}

// dx (lane t) += col2im(dcol); parallel over the batch so that no two threads write
// the same input pixel, and each pixel sums in the same order whatever the threads.
template <class S>
void col2im_lane_add(const ConvDims& d, int t, const S* dcol, S* dx) {
  const int L = d.L(), Ho = d.Ho(), Wo = d.Wo(), P = d.patch();
  const size_t cols = size_t(d.B) * L;
#pragma omp parallel for schedule(static) if (size_t(P) * cols > 32768)
  for (int b = 0; b < d.B; ++b) {
    for (int q = 0; q < P; ++q) {
      const int c = q / (d.k * d.k), i = (q / d.k) % d.k, j = q % d.k;
      int lo, hi;
      valid_range(Wo, d.W, d.stride, d.pad, j, lo, hi);
      S* plane = dx + ((size_t(b) * d.T + t) * d.Cin + c) * d.H * d.W;
      for (int oh = 0; oh < Ho; ++oh) {
        const int ih = oh * d.stride - d.pad + i;
        if (ih < 0 || ih >= d.H) continue;
        const S* src = dcol + size_t(q) * cols + size_t(b) * L + size_t(oh) * Wo;
        S* dst = plane + size_t(ih) * d.W - d.pad + j;
        for (int ow = lo; ow < hi; ++ow) dst[ow * d.stride] += src[ow];
      }
    }
  }
}

template <class S>
void conv2d_forward(const ConvDims& d, const S* x, const S* w, const S* bias, S* y, S* ws) {
  const int L = d.L(), P = d.patch();
  const size_t cols = size_t(d.B) * L;
  S* col = ws;
  S* out = ws + size_t(P) * cols;
  for (int t = 0; t < d.T; ++t) {
    im2col_lane(d, t, x, col);
    gemm_parallel(false, false, d.Cout, int(cols), P, S(1), w + size_t(t) * d.Cout * P, P, col,
                  int(cols), S(0), out, int(cols));
#pragma omp parallel for schedule(static) if (cols * d.Cout > 32768)
    for (int b = 0; b < d.B; ++b)
      for (int co = 0; co < d.Cout; ++co) {
        const S bv = bias[size_t(t) * d.Cout + co];
        const S* src = out + size_t(co) * cols + size_t(b) * L;
        S* dst = y + ((size_t(b) * d.T + t) * d.Cout + co) * L;
        for (int p = 0; p < L; ++p) dst[p] = src[p] + bv;
      }
  }
}

// dx may be null. dw and db are overwritten.
template <class S>
void conv2d_backward(const ConvDims& d, const S* x, const S* w, const S* dy, S* dx, S* dw, S* db,
                     S* ws) {
  const int L = d.L(), P = d.patch();
  const size_t cols = size_t(d.B) * L;
  S* col = ws;
  S* dcol = ws + size_t(P) * cols;
  S* dout = dcol + size_t(P) * cols;
  for (int t = 0; t < d.T; ++t) {
#pragma omp parallel for schedule(static) if (cols * d.Cout > 32768)
    for (int co = 0; co < d.Cout; ++co)
      for (int b = 0; b < d.B; ++b)
        std::copy_n(dy + ((size_t(b) * d.T + t) * d.Cout + co) * L, L,
                    dout + size_t(co) * cols + size_t(b) * L);
#pragma omp parallel for schedule(static) if (cols * d.Cout > 32768)
    for (int co = 0; co < d.Cout; ++co)
      db[size_t(t) * d.Cout + co] = fixed_order_sum(dout + size_t(co) * cols, cols);
    im2col_lane(d, t, x, col);
    gemm_parallel(false, true, d.Cout, P, int(cols), S(1), dout, int(cols), col, int(cols), S(0),
                  dw + size_t(t) * d.Cout * P, P);
    if (dx) {
      gemm_parallel(true, false, P, int(cols), d.Cout, S(1), w + size_t(t) * d.Cout * P, P, dout,
                    int(cols), S(0), dcol, int(cols));
      for (int b = 0; b < d.B; ++b)
        std::fill_n(dx + (size_t(b) * d.T + t) * d.Cin * d.H * d.W, size_t(d.Cin) * d.H * d.W,
                    S(0));
      col2im_lane_add(d, t, dcol, dx);
    }
  }
}

}  // namespace sgdlab::cpu
