// The lane-GEMM convolution: one tiled SIMT GEMM per lane (the lane is grid axis z), its
// operands gathered through the index maps of conv_gemm.hpp, so that a pack of T small
// convolutions is one launch of T * tiles blocks instead of cuDNN's grouped kernels.
// Each thread keeps a TM x TN block of C in registers and sums k in ascending order: a
// fixed-order reduction, the same numbers on every run. FP32 FMA, or TF32 tensor cores
// (wmma, sm_80 and later) for the TF32 tile.
#include <mma.h>

#include "cuda/conv_gemm.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/kernels.hpp"

namespace sgdlab::cuda {
namespace {

constexpr int kTileK = 16;

template <int BM, int BN, int TM, int TN, class Gemm>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) lane_gemm_kernel(Gemm g) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  // +1 column: the loads below write down a column of As, which would otherwise hit
  // one bank kTileK times.
  __shared__ float As[kTileK][BM + 1];
  __shared__ float Bs[kTileK][BN];
  const int t = blockIdx.z, m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int M = g.M(), N = g.N(), K = g.K();
  const int tx = threadIdx.x % (BN / TN), ty = threadIdx.x / (BN / TN);
  float acc[TM][TN] = {};
  for (int k0 = 0; k0 < K; k0 += kTileK) {
    // Consecutive threads read consecutive k of A (weights are k-contiguous) and
    // consecutive n of B (output positions).
    for (int e = threadIdx.x; e < BM * kTileK; e += kThreads) {
      const int mm = e / kTileK, kk = e % kTileK, m = m0 + mm, k = k0 + kk;
      As[kk][mm] = (m < M && k < K) ? g.a(t, m, k) : 0.0f;
    }
    for (int e = threadIdx.x; e < kTileK * BN; e += kThreads) {
      const int kk = e / BN, nn = e % BN, k = k0 + kk, n = n0 + nn;
      Bs[kk][nn] = (k < K && n < N) ? g.b(t, k, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[kk][ty * TM + i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx * TN + j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int m = m0 + ty * TM + i, n = n0 + tx * TN + j;
      if (m < M && n < N) g.store(t, m, n, acc[i][j]);
    }
}

// The TF32 tile: 64 x 64 of C per block of 4 warps, each warp 32 x 32 as 2 x 2 wmma
// 16x16x8 fragments; operands rounded to TF32 as they enter the fragments, FP32 sums in
// a fixed order. C goes through shared memory to the index map's store.
constexpr int kWmmaBM = 64, kWmmaBN = 64, kWmmaBK = 16;
// Leading dimensions padded by 4 floats: multiples of 4 (wmma) that shift rows across
// banks, and 16-float fragment rows stay 32-byte aligned.
constexpr int kLdA = kWmmaBK + 4, kLdB = kWmmaBN + 4, kLdC = kWmmaBN + 4;

template <class Gemm>
__global__ void __launch_bounds__(128) lane_gemm_tf32_kernel(Gemm g) {
  namespace wmma = nvcuda::wmma;
  __shared__ __align__(32) float As[kWmmaBM * kLdA];  // [m][k]
  __shared__ __align__(32) float Bs[kWmmaBK * kLdB];  // [k][n]
  __shared__ __align__(32) float Cs[kWmmaBM * kLdC];  // [m][n]
  const int t = blockIdx.z, m0 = blockIdx.y * kWmmaBM, n0 = blockIdx.x * kWmmaBN;
  const int M = g.M(), N = g.N(), K = g.K();
  const int warp = threadIdx.x / 32, wm = (warp / 2) * 32, wn = (warp % 2) * 32;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
  for (auto& row : acc)
    for (auto& f : row) wmma::fill_fragment(f, 0.0f);
  for (int k0 = 0; k0 < K; k0 += kWmmaBK) {
    for (int e = threadIdx.x; e < kWmmaBM * kWmmaBK; e += blockDim.x) {
      const int mm = e / kWmmaBK, kk = e % kWmmaBK, m = m0 + mm, k = k0 + kk;
      As[mm * kLdA + kk] = (m < M && k < K) ? g.a(t, m, k) : 0.0f;
    }
    for (int e = threadIdx.x; e < kWmmaBK * kWmmaBN; e += blockDim.x) {
      const int kk = e / kWmmaBN, nn = e % kWmmaBN, k = k0 + kk, n = n0 + nn;
      Bs[kk * kLdB + nn] = (k < K && n < N) ? g.b(t, k, n) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kWmmaBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> b[2];
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(a[i], As + (wm + 16 * i) * kLdA + kk, kLdA);
        for (int e = 0; e < a[i].num_elements; ++e) a[i].x[e] = wmma::__float_to_tf32(a[i].x[e]);
        wmma::load_matrix_sync(b[i], Bs + kk * kLdB + wn + 16 * i, kLdB);
        for (int e = 0; e < b[i].num_elements; ++e) b[i].x[e] = wmma::__float_to_tf32(b[i].x[e]);
      }
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(Cs + (wm + 16 * i) * kLdC + wn + 16 * j, acc[i][j], kLdC,
                              wmma::mem_row_major);
  __syncthreads();
  for (int e = threadIdx.x; e < kWmmaBM * kWmmaBN; e += blockDim.x) {
    const int mm = e / kWmmaBN, nn = e % kWmmaBN, m = m0 + mm, n = n0 + nn;
    if (m < M && n < N) g.store(t, m, n, Cs[mm * kLdC + nn]);
  }
}

template <int BM, int BN, int TM, int TN, class Gemm>
void launch(cudaStream_t s, const Gemm& g, int T) {
  const dim3 grid((g.N() + BN - 1) / BN, (g.M() + BM - 1) / BM, T);
  lane_gemm_kernel<BM, BN, TM, TN><<<grid, (BM / TM) * (BN / TN), 0, s>>>(g);
  SGDLAB_LAUNCH_CHECK();
}

template <class Gemm>
void launch(cudaStream_t s, LaneGemmTile tile, const Gemm& g, int T) {
  switch (tile) {
    case LaneGemmTile::M64N64:
      launch<64, 64, 4, 4>(s, g, T);
      break;
    case LaneGemmTile::M32N128:
      launch<32, 128, 4, 4>(s, g, T);
      break;
    case LaneGemmTile::M64N64Tf32: {
      const dim3 grid((g.N() + kWmmaBN - 1) / kWmmaBN, (g.M() + kWmmaBM - 1) / kWmmaBM, T);
      lane_gemm_tf32_kernel<<<grid, 128, 0, s>>>(g);
      SGDLAB_LAUNCH_CHECK();
      break;
    }
  }
}

}  // namespace

void conv_gemm_forward(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* x,
                       const float* w, const float* bias, float* y) {
  launch(s, tile, conv_gemm::Forward{d, x, w, bias, y}, d.T);
}

void conv_gemm_backward_data(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* w,
                             const float* dy, float* dx) {
  launch(s, tile, conv_gemm::BackwardData{d, w, dy, dx}, d.T);
}

void conv_gemm_backward_filter(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* x,
                               const float* dy, float* dw) {
  launch(s, tile, conv_gemm::BackwardFilter{d, x, dy, dw}, d.T);
}

}  // namespace sgdlab::cuda
