// Batch normalisation (CPU reference: kernels/cpu/batchnorm.hpp; the arithmetic:
// sgdlab/core/batchnorm.hpp). Training forward and backward: one block per lane-channel,
// its sums in double per thread and then CUB's block reduction (a fixed tree, no
// atomics), so a channel's statistics have one value on every run. Evaluation: one
// thread per value, from the running statistics.
#include <cub/block/block_reduce.cuh>

#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/batchnorm.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kThreads = 256;
using Reduce = cub::BlockReduce<double, kThreads>;

// The index of lane-channel tc's i-th value (b = i / HW, then the plane).
__device__ size_t value_index(const BatchNormDims& d, int tc, size_t i) {
  const size_t b = i / d.HW, hw = i % d.HW;
  return (b * (size_t(d.T) * d.C) + tc) * d.HW + hw;
}

// The block's sum of v, in every thread.
__device__ double block_sum(double v, Reduce::TempStorage& temp, double& shared) {
  const double total = Reduce(temp).Sum(v);
  if (threadIdx.x == 0) shared = total;
  __syncthreads();
  const double out = shared;
  __syncthreads();  // temp and shared are reused by the next sum
  return out;
}

struct Moments {
  float mean, var;
};

__device__ Moments block_moments(const BatchNormDims& d, int tc, const float* x,
                                 Reduce::TempStorage& temp, double& shared) {
  const size_t n = d.values();
  double s = 0;
  for (size_t i = threadIdx.x; i < n; i += kThreads) s += double(x[value_index(d, tc, i)]);
  const double mean = block_sum(s, temp, shared) / double(n);
  double q = 0;
  for (size_t i = threadIdx.x; i < n; i += kThreads) {
    const double e = double(x[value_index(d, tc, i)]) - mean;
    q += e * e;
  }
  return {float(mean), float(block_sum(q, temp, shared) / double(n))};
}

__global__ void batchnorm_train_kernel(BatchNormDims d, const LaneState* state, BatchNormTensors p,
                                       const float* x, float* y) {
  __shared__ Reduce::TempStorage temp;
  __shared__ double shared;
  const int tc = blockIdx.x, t = tc / d.C;
  const Moments m = block_moments(d, tc, x, temp, shared);
  const BatchNormAffine<float> a = batchnorm_affine(p.gamma[tc], p.beta[tc], m.mean, m.var, d.eps);
  for (size_t i = threadIdx.x; i < d.values(); i += kThreads) {
    const size_t k = value_index(d, tc, i);
    y[k] = x[k] * a.scale + a.shift;
  }
  if (threadIdx.x != 0 || (state && state[t] != LaneState::Training)) return;
  batchnorm_track(m.mean, m.var, d.values(), d.momentum, p.running_mean[tc], p.running_var[tc]);
  if (tc % d.C == 0) p.tracked[t] += 1.0f;
}

__global__ void batchnorm_eval_kernel(BatchNormDims d, BatchNormTensors p, const float* x,
                                      float* y) {
  const size_t k = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (k >= size_t(d.B) * d.T * d.C * d.HW) return;
  const int tc = int((k / d.HW) % (size_t(d.T) * d.C));
  const BatchNormAffine<float> a =
      batchnorm_affine(p.gamma[tc], p.beta[tc], p.running_mean[tc], p.running_var[tc], d.eps);
  y[k] = x[k] * a.scale + a.shift;
}

__global__ void batchnorm_backward_kernel(BatchNormDims d, const float* x, const float* gamma,
                                          const float* dy, float* dx, float* dgamma, float* dbeta) {
  __shared__ Reduce::TempStorage temp;
  __shared__ double shared;
  const int tc = blockIdx.x;
  const Moments m = block_moments(d, tc, x, temp, shared);
  const BatchNormAffine<float> a = batchnorm_affine(gamma[tc], 0.0f, m.mean, m.var, d.eps);
  const size_t n = d.values();
  double s_dy = 0, s_dy_xhat = 0;
  for (size_t i = threadIdx.x; i < n; i += kThreads) {
    const size_t k = value_index(d, tc, i);
    s_dy += double(dy[k]);
    s_dy_xhat += double(dy[k]) * double((x[k] - m.mean) * a.invstd);
  }
  const double sum_dy = block_sum(s_dy, temp, shared);
  const double sum_dy_xhat = block_sum(s_dy_xhat, temp, shared);
  if (threadIdx.x == 0) {
    dgamma[tc] = float(sum_dy_xhat);
    dbeta[tc] = float(sum_dy);
  }
  if (!dx) return;
  const float mean_dy = float(sum_dy / double(n)), mean_dy_xhat = float(sum_dy_xhat / double(n));
  for (size_t i = threadIdx.x; i < n; i += kThreads) {
    const size_t k = value_index(d, tc, i);
    dx[k] = batchnorm_dx(dy[k], x[k], m.mean, a, mean_dy, mean_dy_xhat);
  }
}

}  // namespace

void batchnorm_forward(cudaStream_t s, const BatchNormDims& d, bool training,
                       const LaneState* state, const BatchNormTensors& p, const float* x,
                       float* y) {
  const size_t n = size_t(d.B) * d.T * d.C * d.HW;
  if (!n) return;
  if (training)
    batchnorm_train_kernel<<<unsigned(d.T * d.C), kThreads, 0, s>>>(d, state, p, x, y);
  else
    batchnorm_eval_kernel<<<unsigned((n + kThreads - 1) / kThreads), kThreads, 0, s>>>(d, p, x, y);
  SGDLAB_LAUNCH_CHECK();
}

void batchnorm_backward(cudaStream_t s, const BatchNormDims& d, const float* x, const float* gamma,
                        const float* dy, float* dx, float* dgamma, float* dbeta) {
  if (size_t(d.B) * d.T * d.C * d.HW == 0) return;
  batchnorm_backward_kernel<<<unsigned(d.T * d.C), kThreads, 0, s>>>(d, x, gamma, dy, dx, dgamma,
                                                                     dbeta);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
