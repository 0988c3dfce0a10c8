#pragma once
// Locally connected layer (unshared weights) on [B, T, C, H, W]: every output
// location l has its own filters, W [T, L, Cout, Cin*k*k] and bias [T, L, Cout].
// Plain loops: the layer is small and its per-location GEMMs are tiny. Each loop
// writes disjoint outputs per thread and reduces in a fixed order, so results do
// not depend on the thread count.
#include <algorithm>
#include <cstddef>
#include <vector>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

// The input window of location l for sample b, lane t: patch[q], q = (c*k + i)*k + j.
template <class S>
void local2d_patch(const ConvDims& d, int t, int b, int l, const S* x, S* patch) {
  const int oh = l / d.Wo(), ow = l % d.Wo();
  for (int c = 0; c < d.Cin; ++c) {
    const S* plane = x + ((size_t(b) * d.T + t) * d.Cin + c) * d.H * d.W;
    for (int i = 0; i < d.k; ++i)
      for (int j = 0; j < d.k; ++j) {
        const int ih = oh * d.stride - d.pad + i, iw = ow * d.stride - d.pad + j;
        const bool inside = ih >= 0 && ih < d.H && iw >= 0 && iw < d.W;
        patch[(c * d.k + i) * d.k + j] = inside ? plane[ih * d.W + iw] : S(0);
      }
  }
}

template <class S>
void local2d_forward(const ConvDims& d, const S* x, const S* w, const S* bias, S* y) {
  const int L = d.L(), P = d.patch();
#pragma omp parallel
  {
    std::vector<S> patch(P);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < d.B; ++b)
      for (int t = 0; t < d.T; ++t)
        for (int l = 0; l < L; ++l) {
          local2d_patch(d, t, b, l, x, patch.data());
          const S* wl = w + (size_t(t) * L + l) * d.Cout * P;
          const S* bl = bias + (size_t(t) * L + l) * d.Cout;
          for (int co = 0; co < d.Cout; ++co) {
            S acc = bl[co];
            const S* wr = wl + size_t(co) * P;
            for (int q = 0; q < P; ++q) acc += wr[q] * patch[q];
            y[((size_t(b) * d.T + t) * d.Cout + co) * L + l] = acc;
          }
        }
  }
}

// dx (may be null) is overwritten; so are dw and db.
template <class S>
void local2d_backward(const ConvDims& d, const S* x, const S* w, const S* dy, S* dx, S* dw, S* db) {
  const int L = d.L(), P = d.patch(), Wo = d.Wo();
  if (dx) {
#pragma omp parallel
    {
      std::vector<S> dpatch(P);
#pragma omp for collapse(2) schedule(static)
      for (int b = 0; b < d.B; ++b)
        for (int t = 0; t < d.T; ++t) {
          S* dxs = dx + (size_t(b) * d.T + t) * d.Cin * d.H * d.W;
          std::fill_n(dxs, size_t(d.Cin) * d.H * d.W, S(0));
          for (int l = 0; l < L; ++l) {
            std::fill(dpatch.begin(), dpatch.end(), S(0));
            const S* wl = w + (size_t(t) * L + l) * d.Cout * P;
            for (int co = 0; co < d.Cout; ++co) {
              const S g = dy[((size_t(b) * d.T + t) * d.Cout + co) * L + l];
              const S* wr = wl + size_t(co) * P;
              for (int q = 0; q < P; ++q) dpatch[q] += g * wr[q];
            }
            const int oh = l / Wo, ow = l % Wo;
            for (int c = 0; c < d.Cin; ++c)
              for (int i = 0; i < d.k; ++i)
                for (int j = 0; j < d.k; ++j) {
                  const int ih = oh * d.stride - d.pad + i, iw = ow * d.stride - d.pad + j;
                  if (ih >= 0 && ih < d.H && iw >= 0 && iw < d.W)
                    dxs[(size_t(c) * d.H + ih) * d.W + iw] += dpatch[(c * d.k + i) * d.k + j];
                }
          }
        }
    }
  }
#pragma omp parallel
  {
    std::vector<S> patch(P);
#pragma omp for collapse(2) schedule(static)
    for (int t = 0; t < d.T; ++t)
      for (int l = 0; l < L; ++l) {
        S* dwl = dw + (size_t(t) * L + l) * d.Cout * P;
        S* dbl = db + (size_t(t) * L + l) * d.Cout;
        std::fill_n(dwl, size_t(d.Cout) * P, S(0));
        std::fill_n(dbl, d.Cout, S(0));
        for (int b = 0; b < d.B; ++b) {
          local2d_patch(d, t, b, l, x, patch.data());
          for (int co = 0; co < d.Cout; ++co) {
            const S g = dy[((size_t(b) * d.T + t) * d.Cout + co) * L + l];
            dbl[co] += g;
            S* dwr = dwl + size_t(co) * P;
            for (int q = 0; q < P; ++q) dwr[q] += g * patch[q];
          }
        }
      }
  }
}

}  // namespace sgdlab::cpu
