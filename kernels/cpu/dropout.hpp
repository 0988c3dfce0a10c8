#pragma once
// Inverted dropout on [B, T, F] with a per-lane drop rate. Element (b, f) of lane t is
// kept when its Philox draw, keyed by (lane seed, global step, layer, b*F + f), is at
// least the rate; kept values are scaled by 1 / (1 - rate). Backward redraws the mask.
#include <cstddef>
#include <cstdint>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab::cpu {

template <class S>
void dropout_apply(const DropoutDims& d, const float* rate, const uint64_t* seed, int64_t step,
                   const S* in, S* out) {
#pragma omp parallel for collapse(2) schedule(static) if (size_t(d.B) * d.T * d.F > 8192)
  for (int b = 0; b < d.B; ++b)
    for (int t = 0; t < d.T; ++t) {
      const float p = rate[t];
      const S scale = p < 1.0f ? S(1) / (S(1) - S(p)) : S(0);
      const size_t base = (size_t(b) * d.T + t) * d.F;
      Philox4 draw{};
      for (int f = 0; f < d.F; ++f) {
        // One Philox call serves four consecutive indices: a new one at each fourth.
        const uint64_t index = uint64_t(b) * d.F + f;
        if (f == 0 || (index & 3) == 0)
          draw = dropout_block(seed[t], uint64_t(step), d.layer, index);
        const bool keep = philox_unit_float(philox_word(draw, uint32_t(index & 3))) >= p;
        out[base + f] = keep ? in[base + f] * scale : S(0);
      }
    }
}

template <class S>
void dropout_forward(const DropoutDims& d, const float* rate, const uint64_t* seed, int64_t step,
                     const S* x, S* y) {
  dropout_apply(d, rate, seed, step, x, y);
}

// The mask is linear, so the backward pass applies the same mask to dy.
template <class S>
void dropout_backward(const DropoutDims& d, const float* rate, const uint64_t* seed, int64_t step,
                      const S* dy, S* dx) {
  dropout_apply(d, rate, seed, step, dy, dx);
}

}  // namespace sgdlab::cpu
