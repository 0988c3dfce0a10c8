#pragma once
// Per-lane permutations: sort 0..n-1 by Philox keys from the lane's seed and the
// epoch, ties by index (a stable radix sort on the GPU gives the same order).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "sgdlab/core/philox.hpp"

namespace sgdlab::cpu {

inline void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) {
  std::vector<std::pair<uint32_t, uint32_t>> keyed(n);
  for (int t = 0; t < T; ++t) {
    for (int i = 0; i < n; ++i) keyed[i] = {shuffle_key(seeds[t], epoch, uint32_t(i)), uint32_t(i)};
    std::sort(keyed.begin(), keyed.end());
    for (int i = 0; i < n; ++i) perm[size_t(t) * n + i] = keyed[i].second;
  }
}

}  // namespace sgdlab::cpu
