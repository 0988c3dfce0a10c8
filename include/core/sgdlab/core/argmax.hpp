#pragma once
// The predicted class of a row of scores, one rule for the CPU, the GPU and the
// ensemble: the first index of the largest value, a NaN ranking above every number (as
// torch.argmax does). A row of NaN predicts class 0 on every backend.
#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

// Whether score a ranks above score b: larger, or NaN where b is a number.
template <class S>
SGDLAB_HD bool ranks_above(S a, S b) {
  return a > b || (a != a && b == b);
}

// Of two candidates (value, index), whether (a, ia) wins: it ranks above, or ties
// (equal, or both NaN) with a smaller index. Any order of reduction then gives the
// sequential rule's answer.
template <class S>
SGDLAB_HD bool wins_over(S a, int ia, S b, int ib) {
  return ranks_above(a, b) || (!ranks_above(b, a) && ia < ib);
}

template <class S>
SGDLAB_HD int argmax_first(const S* z, int n) {
  int arg = 0;
  for (int c = 1; c < n; ++c)
    if (ranks_above(z[c], z[arg])) arg = c;
  return arg;
}

}  // namespace sgdlab
