#pragma once
// Dense layer on the lane-packed layout: lane t of x is the matrix x + t*in with
// leading dimension T*in, so each lane is one GEMM with no copies or transposes.
#include "cpu/blas.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void dense_forward(const DenseDims& d, const S* x, const S* w, const S* b, S* y) {
  const int ldx = d.T * d.in, ldy = d.T * d.out;
  for (int t = 0; t < d.T; ++t) {
    S* yt = y + size_t(t) * d.out;
    for (int r = 0; r < d.B; ++r)
      for (int o = 0; o < d.out; ++o) yt[size_t(r) * ldy + o] = b[size_t(t) * d.out + o];
    gemm_parallel(false, false, d.B, d.out, d.in, S(1), x + size_t(t) * d.in, ldx,
                  w + size_t(t) * d.in * d.out, d.out, S(1), yt, ldy);
  }
}

template <class S>
void dense_backward_data(const DenseDims& d, const S* dy, const S* w, S* dx) {
  for (int t = 0; t < d.T; ++t)
    gemm_parallel(false, true, d.B, d.in, d.out, S(1), dy + size_t(t) * d.out, d.T * d.out,
                  w + size_t(t) * d.in * d.out, d.out, S(0), dx + size_t(t) * d.in, d.T * d.in);
}

template <class S>
void dense_backward_weight(const DenseDims& d, const S* x, const S* dy, S* dw, S* db) {
  const int ldy = d.T * d.out;
  for (int t = 0; t < d.T; ++t) {
    gemm_parallel(true, false, d.in, d.out, d.B, S(1), x + size_t(t) * d.in, d.T * d.in,
                  dy + size_t(t) * d.out, ldy, S(0), dw + size_t(t) * d.in * d.out, d.out);
    S* dbt = db + size_t(t) * d.out;
    for (int o = 0; o < d.out; ++o) dbt[o] = S(0);
    for (int r = 0; r < d.B; ++r) {
      const S* row = dy + size_t(r) * ldy + size_t(t) * d.out;
      for (int o = 0; o < d.out; ++o) dbt[o] += row[o];
    }
  }
}

}  // namespace sgdlab::cpu
