#pragma once
// A grouped cuDNN convolution of one lane-packed shape ([B, T*C, H, W], groupCount = T):
// descriptors, one algorithm per direction chosen once, and a workspace.
#include <string>
#include <utility>
#include <vector>

#include "cuda/device_arena.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab {

template <class T, cudnnStatus_t (*Destroy)(T)>
struct CudnnDescriptor {
  T d = nullptr;
  CudnnDescriptor() = default;
  CudnnDescriptor(CudnnDescriptor&& other) noexcept : d(std::exchange(other.d, nullptr)) {}
  CudnnDescriptor& operator=(CudnnDescriptor&& other) noexcept {
    std::swap(d, other.d);
    return *this;
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  ~CudnnDescriptor() {
    if (d) Destroy(d);
  }
};
using TensorDesc = CudnnDescriptor<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDesc = CudnnDescriptor<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;

void set_tensor(TensorDesc& t, int n, int c, int h, int w);

// How a plan's algorithms are chosen.
struct ConvChoice {
  bool tf32 = false;  // tensor-core math allowed (else FMA only)
  // Time every deterministic algorithm on scratch tensors (cudnnFind*Ex) and keep the
  // fastest; else take cuDNN's heuristic order. Timing needs a stream that is not
  // being captured; the choice may differ between runs, and with it the rounding.
  bool autotune = false;
  ConvKernel kernel = ConvKernel::Auto;
};

// Who runs one direction of a convolution, and how long it took when timed.
struct ConvRoute {
  bool lane_gemm = false;
  cuda::LaneGemmTile tile = cuda::LaneGemmTile::M64N64;
  float ms = 0;  // 0 when not timed
};

struct ConvPlan {
  TensorDesc x, y, bias;
  FilterDesc w;
  // One descriptor per direction: each carries the math type its algorithm was found with.
  ConvDesc fwd_conv, data_conv, filter_conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  ConvRoute fwd_route, data_route, filter_route;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;

  // cuDNN's three directions with this plan's algorithms (no bias): y = conv(x, w),
  // dx = conv^T(w, dy), dw = the filter gradient; outputs overwritten.
  void cudnn_forward(cudnnHandle_t h, const float* x, const float* w, float* y) const;
  void cudnn_backward_data(cudnnHandle_t h, const float* w, const float* dy, float* dx) const;
  void cudnn_backward_filter(cudnnHandle_t h, const float* x, const float* dy, float* dw) const;
};

// Builds the plan of `d` on `handle` (whose stream must be idle and not capturing when
// choice.autotune is set); the workspace comes from `arena`. Routes every direction to
// cuDNN, then to the lane-GEMM kernel as choice.kernel says (conv_tuning.cu).
void make_conv_plan(cudnnHandle_t handle, const ConvDims& d, ConvChoice choice, DeviceArena& arena,
                    ConvPlan& p, std::vector<std::string>& warnings);

// For ConvKernel::LaneGemm, routes every direction to the lane-GEMM kernel (the faster
// tile when autotuning). For Auto with autotune, times the lane-GEMM tiles (the TF32
// one too under tf32) beside the cuDNN times in the plan and takes a direction over
// where one is faster, after checking its output against cuDNN's on random inputs; a
// tile that disagrees is not used, and `warnings` says so.
void route_lane_gemm(cudnnHandle_t handle, const ConvDims& d, ConvChoice choice, ConvPlan& p,
                     std::vector<std::string>& warnings);

}  // namespace sgdlab
