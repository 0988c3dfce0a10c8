#pragma once
// Per-element device functions shared by the plain and the fused kernels, so that both
// compute the same numbers as the CPU references (kernels/cpu/activation.hpp, dropout.hpp).
#include <cstddef>
#include <cstdint>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab::cuda {

__device__ __forceinline__ float activate(Activation a, float v) {
  return a == Activation::Relu      ? fmaxf(v, 0.0f)
         : a == Activation::Sigmoid ? 1.0f / (1.0f + expf(-v))
                                    : tanhf(v);
}

// The gradient through an activation, from its output y.
__device__ __forceinline__ float activate_grad(Activation a, float y, float g) {
  return a == Activation::Relu      ? (y > 0.0f ? g : 0.0f)
         : a == Activation::Sigmoid ? g * y * (1.0f - y)
                                    : g * (1.0f - y * y);
}

// Element i of [B, T, F] under lane t's dropout mask: 0 when dropped, else the
// inverted-dropout scale 1 / (1 - rate).
__device__ __forceinline__ float dropout_factor(const DropoutDims& d, const float* rate,
                                                const uint64_t* seed, const int64_t* counters,
                                                size_t i) {
  const int f = int(i % d.F);
  const int t = int((i / d.F) % d.T);
  const size_t b = i / (size_t(d.F) * d.T);
  const float p = rate[t];
  const uint64_t step = uint64_t(counters[kCounterGlobalStep]);
  const bool keep = philox_unit_float(dropout_bits(seed[t], step, d.layer, b * d.F + f)) >= p;
  return keep ? 1.0f / (1.0f - p) : 0.0f;
}

}  // namespace sgdlab::cuda
