// Fused softmax cross-entropy, one warp per sample row: loss, correct flag and
// dlogits = (softmax - onehot) / B. Per-lane sums then run over the rows in order, so
// that no float atomics make the totals depend on timing: in the same kernel when one
// block can hold the whole batch (a training step: one launch), else in a second one.
#include <cfloat>
#include <climits>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/argmax.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kWarp = 32;

__device__ float warp_max(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ float warp_sum(float v) {
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// The row's predicted class by sgdlab's one rule (argmax.hpp): each thread keeps the
// winner of its columns, then the warp reduces the (value, index) pairs.
__device__ int warp_argmax(const float* z, int classes) {
  float best = -INFINITY;
  int arg = INT_MAX;  // an empty thread loses every comparison
  for (int c = threadIdx.x % kWarp; c < classes; c += kWarp)
    if (wins_over(z[c], c, best, arg)) best = z[c], arg = c;
  for (int o = kWarp / 2; o > 0; o /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, best, o);
    const int other_arg = __shfl_xor_sync(0xffffffffu, arg, o);
    if (wins_over(other, other_arg, best, arg)) best = other, arg = other_arg;
  }
  return arg;
}

// The row's largest logit and sum of exp(z - max), reduced across the warp.
__device__ void row_max_sum(const float* z, int classes, float& m, float& s) {
  const int lane = threadIdx.x % kWarp;
  m = -FLT_MAX;
  for (int c = lane; c < classes; c += kWarp) m = fmaxf(m, z[c]);
  m = warp_max(m);
  s = 0.0f;
  for (int c = lane; c < classes; c += kWarp) s += expf(z[c] - m);
  s = warp_sum(s);
}

// One row's loss, correct flag and dlogits, by the calling warp.
__device__ void xent_row(const XentDims& d, int row, const float* logits, const int32_t* labels,
                         float* dlogits, float* row_loss, float* row_correct) {
  const int lane = threadIdx.x % kWarp;
  const float* z = logits + size_t(row) * d.classes;
  float m, s;
  row_max_sum(z, d.classes, m, s);
  const float log_sum = logf(s);
  const int label = labels[row];
  const int arg = warp_argmax(z, d.classes);
  // The lane's label smoothing (rows are [B, T]: row % T is the lane).
  const float eps = d.smoothing ? d.smoothing[row % d.T] : 0.0f;
  const float spread = eps / float(d.classes);
  float shifted = 0.0f;  // sum_c (z_c - m), only for a smoothed loss
  if (eps != 0.0f) {
    for (int c = lane; c < d.classes; c += kWarp) shifted += z[c] - m;
    shifted = warp_sum(shifted);
  }
  if (lane == 0) {
    row_loss[row] = eps == 0.0f ? log_sum - (z[label] - m)
                                : (1.0f - eps) * (log_sum - (z[label] - m)) +
                                      spread * (float(d.classes) * log_sum - shifted);
    row_correct[row] = arg == label ? 1.0f : 0.0f;
  }
  if (dlogits)
    for (int c = lane; c < d.classes; c += kWarp) {
      const float target = eps == 0.0f ? (c == label ? 1.0f : 0.0f)
                                       : (1.0f - eps) * (c == label ? 1.0f : 0.0f) + spread;
      dlogits[size_t(row) * d.classes + c] = (expf(z[c] - m - log_sum) - target) / float(d.B);
    }
}

__global__ void xent_rows_kernel(XentDims d, const float* logits, const int32_t* labels,
                                 float* dlogits, float* row_loss, float* row_correct) {
  const int row = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row < d.B * d.T) xent_row(d, row, logits, labels, dlogits, row_loss, row_correct);
}

// Lane t's rows ([B, T] order) summed in batch order in double, like the CPU.
__device__ void xent_lane(const XentDims& d, int t, const float* row_loss, const float* row_correct,
                          float* loss_sum, float* correct, LaneState* state) {
  double loss = 0, hits = 0;
  for (int b = 0; b < d.B; ++b) {
    loss += double(row_loss[size_t(b) * d.T + t]);
    hits += double(row_correct[size_t(b) * d.T + t]);
  }
  loss_sum[t] += float(loss);
  correct[t] += float(hits);
  if (state && !isfinite(loss)) state[t] = LaneState::Diverged;
}

__global__ void xent_lanes_kernel(XentDims d, const float* row_loss, const float* row_correct,
                                  float* loss_sum, float* correct, LaneState* state) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t < d.T) xent_lane(d, t, row_loss, row_correct, loss_sum, correct, state);
}

// Both passes in one block: its warps take the rows in turn, then, once every row is
// written (__syncthreads orders the block's global writes), its threads take the lanes.
__global__ void xent_one_block_kernel(XentDims d, const float* logits, const int32_t* labels,
                                      float* dlogits, float* row_loss, float* row_correct,
                                      float* loss_sum, float* correct, LaneState* state) {
  const int warps = blockDim.x / kWarp;
  for (int row = threadIdx.x / kWarp; row < d.B * d.T; row += warps)
    xent_row(d, row, logits, labels, dlogits, row_loss, row_correct);
  __syncthreads();
  for (int t = threadIdx.x; t < d.T; t += blockDim.x)
    xent_lane(d, t, row_loss, row_correct, loss_sum, correct, state);
}

__global__ void softmax_kernel(XentDims d, const float* logits, float* probs) {
  const int row = blockIdx.x * (blockDim.x / kWarp) + threadIdx.x / kWarp;
  if (row >= d.B * d.T) return;
  const int lane = threadIdx.x % kWarp;
  const float* z = logits + size_t(row) * d.classes;
  float m, s;
  row_max_sum(z, d.classes, m, s);
  for (int c = lane; c < d.classes; c += kWarp)
    probs[size_t(row) * d.classes + c] = expf(z[c] - m) / s;
}

constexpr int kRowsPerBlock = 8;

}  // namespace

void softmax_xent(cudaStream_t s, const XentDims& d, const float* logits, const int32_t* labels,
                  float* dlogits, float* row_loss, float* row_correct, float* loss_sum,
                  float* correct, LaneState* state) {
  const int rows = d.B * d.T;
  if (!rows) return;
  // Up to 8 rows per warp of one 1,024-thread block (a step of up to 8 lanes at batch
  // 32): one launch where the second would cost more than the rows themselves.
  if (rows <= 256) {
    xent_one_block_kernel<<<1, 1024, 0, s>>>(d, logits, labels, dlogits, row_loss, row_correct,
                                             loss_sum, correct, state);
    SGDLAB_LAUNCH_CHECK();
    return;
  }
  xent_rows_kernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kRowsPerBlock * kWarp, 0, s>>>(
      d, logits, labels, dlogits, row_loss, row_correct);
  SGDLAB_LAUNCH_CHECK();
  xent_lanes_kernel<<<(d.T + 127) / 128, 128, 0, s>>>(d, row_loss, row_correct, loss_sum, correct,
                                                      state);
  SGDLAB_LAUNCH_CHECK();
}

void softmax(cudaStream_t s, const XentDims& d, const float* logits, float* probs) {
  const int rows = d.B * d.T;
  if (!rows) return;
  softmax_kernel<<<(rows + kRowsPerBlock - 1) / kRowsPerBlock, kRowsPerBlock * kWarp, 0, s>>>(
      d, logits, probs);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
