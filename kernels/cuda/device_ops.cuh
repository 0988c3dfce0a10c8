#pragma once
// Per-element device functions shared by the plain and the fused kernels, so that both
// compute the same numbers as the CPU references (kernels/cpu/activation.hpp, dropout.hpp).
#include <cstddef>
#include <cstdint>

#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab::cuda {

// A switch with every case and no default: an activation added without its body here
// is a warning from the host pass (-Wswitch) and, should one run, a trapped kernel that
// the launch check reports, never a silent tanh.
__device__ __forceinline__ float activate(Activation a, float v) {
  switch (a) {
    case Activation::Relu:
      return fmaxf(v, 0.0f);
    case Activation::Sigmoid:
      return 1.0f / (1.0f + expf(-v));
    case Activation::Tanh:
      return tanhf(v);
  }
  __trap();
  return v;
}

// The gradient through an activation, from its output y.
__device__ __forceinline__ float activate_grad(Activation a, float y, float g) {
  switch (a) {
    case Activation::Relu:
      return y > 0.0f ? g : 0.0f;
    case Activation::Sigmoid:
      return g * y * (1.0f - y);
    case Activation::Tanh:
      return g * (1.0f - y * y);
  }
  __trap();
  return g;
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
