#pragma once
// A lane-packed convolution as T implicit GEMMs, C[t](M x N) = A[t](M x K) B[t](K x N),
// one per lane, where A and B are read straight from the activations and weights (no
// im2col buffer) and C is written straight into the [B, T, C, H, W] layout. The three
// directions differ only in how they map (m, k, n) to memory; those maps live here, as
// plain C++ usable from a CUDA kernel and from a host loop, so that a test checks them
// against the CPU convolution on a machine without a GPU (tests/conv_gemm_test.cpp).
#include <cstddef>

#include "sgdlab/core/host_device.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::conv_gemm {

// x[b, t, c, ih, iw] with zero padding outside the image.
SGDLAB_HD float input_at(const ConvDims& d, const float* x, int b, int t, int c, int ih, int iw) {
  if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) return 0.0f;
  return x[((size_t(b) * d.T + t) * d.Cin + c) * d.H * d.W + size_t(ih) * d.W + iw];
}

// The input under filter tap q = (c, i, j) at output position pos = (b, oh, ow): the
// im2col matrix of lane t, element (q, pos), without building it.
SGDLAB_HD float patch_at(const ConvDims& d, const float* x, int t, int q, int pos) {
  const int L = d.L(), kk = d.k * d.k;
  const int b = pos / L, p = pos % L, oh = p / d.Wo(), ow = p % d.Wo();
  const int c = q / kk, i = (q % kk) / d.k, j = q % d.k;
  return input_at(d, x, b, t, c, oh * d.stride - d.pad + i, ow * d.stride - d.pad + j);
}

// y = conv(x, w) + bias. m: output channel; k: (c, i, j) of the filter; n: (b, oh, ow).
struct Forward {
  ConvDims d;
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  SGDLAB_HD int M() const { return d.Cout; }
  SGDLAB_HD int N() const { return d.B * d.L(); }
  SGDLAB_HD int K() const { return d.patch(); }
  SGDLAB_HD float a(int t, int m, int k) const {
    return w[(size_t(t) * d.Cout + m) * d.patch() + k];
  }
  SGDLAB_HD float b(int t, int k, int n) const { return patch_at(d, x, t, k, n); }
  SGDLAB_HD void store(int t, int m, int n, float v) const {
    const int L = d.L(), bi = n / L, p = n % L;
    y[((size_t(bi) * d.T + t) * d.Cout + m) * L + p] = v + bias[size_t(t) * d.Cout + m];
  }
};

// dx = the sum, over the output positions whose window covers each input pixel, of
// w * dy. m: input channel; k: (co, i, j); n: (b, ih, iw). Strides that skip a pixel
// give zeros, so every dx element is written.
struct BackwardData {
  ConvDims d;
  const float* w;
  const float* dy;
  float* dx;
  SGDLAB_HD int M() const { return d.Cin; }
  SGDLAB_HD int N() const { return d.B * d.H * d.W; }
  SGDLAB_HD int K() const { return d.Cout * d.k * d.k; }
  SGDLAB_HD float a(int t, int m, int k) const {
    const int kk = d.k * d.k, co = k / kk, ij = k % kk;
    return w[((size_t(t) * d.Cout + co) * d.Cin + m) * kk + ij];
  }
  SGDLAB_HD float b(int t, int k, int n) const {
    const int kk = d.k * d.k, co = k / kk, i = (k % kk) / d.k, j = k % d.k;
    const int hw = d.H * d.W, bi = n / hw, ih = (n % hw) / d.W, iw = n % d.W;
    const int oh_s = ih + d.pad - i, ow_s = iw + d.pad - j;  // oh * stride, ow * stride
    if (oh_s < 0 || ow_s < 0 || oh_s % d.stride || ow_s % d.stride) return 0.0f;
    const int oh = oh_s / d.stride, ow = ow_s / d.stride;
    if (oh >= d.Ho() || ow >= d.Wo()) return 0.0f;
    return dy[((size_t(bi) * d.T + t) * d.Cout + co) * d.L() + size_t(oh) * d.Wo() + ow];
  }
  SGDLAB_HD void store(int t, int m, int n, float v) const {
    const int hw = d.H * d.W, bi = n / hw;
    dx[((size_t(bi) * d.T + t) * d.Cin + m) * hw + n % hw] = v;
  }
};

// dw = the sum over the batch and output positions of dy * x (the batch in order: a
// fixed-order reduction). m: output channel; k: (b, oh, ow); n: (c, i, j).
struct BackwardFilter {
  ConvDims d;
  const float* x;
  const float* dy;
  float* dw;
  SGDLAB_HD int M() const { return d.Cout; }
  SGDLAB_HD int N() const { return d.patch(); }
  SGDLAB_HD int K() const { return d.B * d.L(); }
  SGDLAB_HD float a(int t, int m, int k) const {
    const int L = d.L();
    return dy[((size_t(k / L) * d.T + t) * d.Cout + m) * L + k % L];
  }
  SGDLAB_HD float b(int t, int k, int n) const { return patch_at(d, x, t, n, k); }
  SGDLAB_HD void store(int t, int m, int n, float v) const {
    dw[(size_t(t) * d.Cout + m) * d.patch() + n] = v;
  }
};

// The plain loop every kernel must agree with: C[t] = A[t] B[t], k ascending.
template <class Gemm>
void reference(const Gemm& g, int T) {
  for (int t = 0; t < T; ++t)
    for (int m = 0; m < g.M(); ++m)
      for (int n = 0; n < g.N(); ++n) {
        float acc = 0.0f;
        for (int k = 0; k < g.K(); ++k) acc += g.a(t, m, k) * g.b(t, k, n);
        g.store(t, m, n, acc);
      }
}

}  // namespace sgdlab::conv_gemm
