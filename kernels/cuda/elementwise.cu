// Activations, bias broadcast and bias gradient.
#include "cuda/cuda_check.hpp"
#include "cuda/device_ops.cuh"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
inline unsigned blocks_for(size_t n) {
  return unsigned((n + kThreads - 1) / kThreads);
}

__global__ void activation_forward_kernel(Activation a, size_t n, const float* x, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = activate(a, x[i]);
}

__global__ void activation_backward_kernel(Activation a, size_t n, const float* y, const float* dy,
                                           float* dx) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) dx[i] = activate_grad(a, y[i], dy[i]);
}

__global__ void broadcast_bias_kernel(size_t n, int per_row, const float* bias, float* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = bias[i % per_row];
}

// One thread per (t, o): the sum over rows runs in row order, the same every run.
__global__ void bias_grad_kernel(int rows, int per_row, const float* dy, float* db) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= per_row) return;
  float s = 0.0f;
  for (int r = 0; r < rows; ++r) s += dy[size_t(r) * per_row + j];
  db[j] = s;
}

}  // namespace

void activation_forward(cudaStream_t s, Activation a, size_t n, const float* x, float* y) {
  if (!n) return;
  activation_forward_kernel<<<blocks_for(n), kThreads, 0, s>>>(a, n, x, y);
  SGDLAB_LAUNCH_CHECK();
}

void activation_backward(cudaStream_t s, Activation a, size_t n, const float* y, const float* dy,
                         float* dx) {
  if (!n) return;
  activation_backward_kernel<<<blocks_for(n), kThreads, 0, s>>>(a, n, y, dy, dx);
  SGDLAB_LAUNCH_CHECK();
}

void broadcast_bias(cudaStream_t s, int rows, int T, int out, const float* bias, float* y) {
  const size_t n = size_t(rows) * T * out;
  if (!n) return;
  broadcast_bias_kernel<<<blocks_for(n), kThreads, 0, s>>>(n, T * out, bias, y);
  SGDLAB_LAUNCH_CHECK();
}

void bias_grad(cudaStream_t s, int rows, int T, int out, const float* dy, float* db) {
  const int per_row = T * out;
  bias_grad_kernel<<<blocks_for(size_t(per_row)), kThreads, 0, s>>>(rows, per_row, dy, db);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
