#pragma once
// What cuBLASLt may assume about the alignment of a strided-batched operand. Its
// heuristic assumes 256-byte aligned matrices unless told otherwise; sgdlab's lanes
// start `stride` floats apart from a base that is 64-byte aligned (a parameter slice)
// or 256-byte aligned (a cudaMalloc'd activation buffer), so each operand is told the
// alignment that every one of its lanes keeps. Plain C++: the CPU tests check it.
#include <algorithm>
#include <cstdint>

#include "sgdlab/core/op_dims.hpp"

namespace sgdlab {

// The base alignment sgdlab guarantees for every operand of a dense layer: a parameter
// slice's (the weaker of the two).
constexpr uint32_t kOperandBaseAlignBytes = uint32_t(kSliceAlignFloats * sizeof(float));

// The largest power of two (at most 256, at least 4) that divides both the base
// alignment and the lane stride in bytes; a stride of 0 (one lane) keeps the base's.
constexpr uint32_t lane_alignment(uint32_t base_bytes, int64_t stride_floats) {
  const uint64_t stride_bytes = uint64_t(stride_floats) * sizeof(float);
  uint32_t a = std::min<uint32_t>(base_bytes, 256);
  while (a > 4 && stride_bytes % a != 0) a /= 2;
  return a;
}

// The alignment a pointer has, at most 256.
inline uint32_t pointer_alignment(const void* p) {
  const uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && v % a != 0) a /= 2;
  return a;
}

}  // namespace sgdlab
