#pragma once
// Minibatch gather: each lane reads its own samples through its own permutation.
#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace sgdlab::cpu {

template <class S>
void gather(int B, int T, int features, const S* data, const int32_t* labels, const uint32_t* perm,
            size_t perm_stride, size_t first, S* x, int32_t* y) {
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < T; ++t) {
      const uint32_t src = perm[size_t(t) * perm_stride + first + b];
      std::copy_n(data + size_t(src) * features, features, x + (size_t(b) * T + t) * features);
      y[size_t(b) * T + t] = labels[src];
    }
}

}  // namespace sgdlab::cpu
