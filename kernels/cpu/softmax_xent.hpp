#pragma once
// Fused softmax cross-entropy on logits [B, T, classes] and labels [B, T]: per-lane
// summed loss and correct count (sums in a fixed order) and dlogits = (p - target) / B,
// the target one-hot or, with the lane's label smoothing eps, (1 - eps) one-hot + eps / K.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "sgdlab/core/argmax.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab::cpu {

template <class S>
void softmax_rows(const XentDims& d, const S* logits, S* probs) {
  for (size_t r = 0; r < size_t(d.B) * d.T; ++r) {
    const S* z = logits + r * d.classes;
    S* p = probs + r * d.classes;
    S zmax = z[0];
    for (int c = 1; c < d.classes; ++c) zmax = z[c] > zmax ? z[c] : zmax;
    S sum = 0;
    for (int c = 0; c < d.classes; ++c) sum += (p[c] = std::exp(z[c] - zmax));
    for (int c = 0; c < d.classes; ++c) p[c] /= sum;
  }
}

template <class S>
void softmax_xent(const XentDims& d, const S* logits, const int32_t* labels, S* dlogits,
                  S* loss_sum, S* correct, LaneState* state) {
  for (int t = 0; t < d.T; ++t) {
    double lane_loss = 0;
    int lane_correct = 0;
    const S eps = d.smoothing ? S(d.smoothing[t]) : S(0);
    const S spread = eps / S(d.classes);
    for (int b = 0; b < d.B; ++b) {
      const size_t row = size_t(b) * d.T + t;
      const S* z = logits + row * d.classes;
      const int label = labels[row];
      const int arg = argmax_first(z, d.classes);
      const S zmax = z[arg];
      S sum = 0;
      for (int c = 0; c < d.classes; ++c) sum += std::exp(z[c] - zmax);
      const S log_sum = std::log(sum);
      lane_correct += arg == label;
      if (eps == S(0)) {
        lane_loss += double(log_sum - (z[label] - zmax));
      } else {
        // (1 - eps) * -log p_label + eps / K * sum_c -log p_c
        S shifted = 0;
        for (int c = 0; c < d.classes; ++c) shifted += z[c] - zmax;
        lane_loss += double((S(1) - eps) * (log_sum - (z[label] - zmax)) +
                            spread * (S(d.classes) * log_sum - shifted));
      }
      if (dlogits) {
        S* g = dlogits + row * d.classes;
        if (eps == S(0))
          for (int c = 0; c < d.classes; ++c)
            g[c] = (std::exp(z[c] - zmax - log_sum) - S(c == label)) / S(d.B);
        else
          for (int c = 0; c < d.classes; ++c)
            g[c] = (std::exp(z[c] - zmax - log_sum) - ((S(1) - eps) * S(c == label) + spread)) /
                   S(d.B);
      }
    }
    // A NaN logit makes the row's loss NaN: the lane is marked diverged below.
    loss_sum[t] += S(lane_loss);
    correct[t] += S(lane_correct);
    if (state && !std::isfinite(lane_loss)) state[t] = LaneState::Diverged;
  }
}

}  // namespace sgdlab::cpu
