#pragma once
// A sum in a fixed order that the compiler can vectorise: eight partial sums over
// interleaved elements, combined in order. The same result every run and with any
// number of threads; a plain running sum is one long dependency chain.
#include <cstddef>

namespace sgdlab::cpu {

template <class S>
S fixed_order_sum(const S* v, size_t n) {
  S part[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int u = 0; u < 8; ++u) part[u] += v[i + u];
  for (; i < n; ++i) part[0] += v[i];
  S sum = 0;
  for (int u = 0; u < 8; ++u) sum += part[u];
  return sum;
}

}  // namespace sgdlab::cpu
