// Minibatch gather from the device-resident data set through each lane's permutation,
// and the Philox keys whose sort gives the per-epoch permutations.
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/philox.hpp"

namespace sgdlab::cuda {
namespace {

__global__ void gather_kernel(GatherDims d, const float* data, const int32_t* labels,
                              const uint32_t* perm, const int64_t* counters, float* x, int32_t* y) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const size_t n = size_t(d.B) * d.T * d.features;
  if (i >= n) return;
  const int f = int(i % d.features);
  const size_t row = i / d.features;  // b * T + t
  const int t = int(row % d.T);
  const size_t b = row / d.T;
  const size_t first =
      (counters ? size_t(counters[kCounterEpochStep]) * d.step_stride : 0) + d.offset;
  const uint32_t src = perm[size_t(t) * d.perm_stride + first + b];
  x[i] = data[size_t(src) * d.features + f];
  if (f == 0) y[row] = labels[src];
}

__global__ void shuffle_keys_kernel(int T, int n, const uint64_t* seeds, uint32_t epoch,
                                    uint32_t* keys, uint32_t* values) {
  const size_t j = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= size_t(T) * n) return;
  const int t = int(j / n);
  const uint32_t i = uint32_t(j % n);
  keys[j] = shuffle_key(seeds[t], epoch, i);
  values[j] = i;
}

}  // namespace

void gather(cudaStream_t s, const GatherDims& d, const float* data, const int32_t* labels,
            const uint32_t* perm, const int64_t* counters, float* x, int32_t* y) {
  const size_t n = size_t(d.B) * d.T * d.features;
  if (!n) return;
  gather_kernel<<<unsigned((n + 255) / 256), 256, 0, s>>>(d, data, labels, perm, counters, x, y);
  SGDLAB_LAUNCH_CHECK();
}

void shuffle_keys(cudaStream_t s, int T, int n, const uint64_t* seeds, uint32_t epoch,
                  uint32_t* keys, uint32_t* values) {
  const size_t total = size_t(T) * n;
  if (!total) return;
  shuffle_keys_kernel<<<unsigned((total + 255) / 256), 256, 0, s>>>(T, n, seeds, epoch, keys,
                                                                    values);
  SGDLAB_LAUNCH_CHECK();
}

}  // namespace sgdlab::cuda
