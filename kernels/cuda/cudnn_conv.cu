#include "cuda/cudnn_conv.hpp"

#include <algorithm>

namespace sgdlab {
namespace {

// The first result that ran and is deterministic (a seeded run gives the same numbers
// twice with the same algorithms). Heuristic results come best first, timed ones fastest
// first.
template <class Perf>
const Perf& pick(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC)
      return perf[i];
  SGDLAB_THROW("cuDNN: no deterministic ", what, " algorithm for this shape");
}

// Keeps the chosen algorithm and sets its math type on the direction's descriptor.
template <class Perf, class Algo>
void choose(const Perf* perf, int count, const char* what, ConvDesc& conv, Algo& algo,
            ConvRoute& route) {
  const Perf& chosen = pick(perf, count, what);
  algo = chosen.algo;
  route.ms = chosen.time > 0 ? chosen.time : 0;
  SGDLAB_CUDNN_CHECK(cudnnSetConvolutionMathType(conv.d, chosen.mathType));
}

void set_conv(ConvDesc& c, const ConvDims& d, cudnnMathType_t math) {
  SGDLAB_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&c.d));
  SGDLAB_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(c.d, d.pad, d.pad, d.stride, d.stride, 1, 1,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  SGDLAB_CUDNN_CHECK(cudnnSetConvolutionGroupCount(c.d, d.T));
  SGDLAB_CUDNN_CHECK(cudnnSetConvolutionMathType(c.d, math));
}

// Scratch tensors of the plan's shapes for timing, zero-filled (no NaN or denormal
// slow paths), and the largest workspace an algorithm may use while being timed.
struct FindScratch {
  static constexpr size_t kWorkspace = size_t(256) << 20;
  TempDeviceBuffer x, w, y, workspace;
  FindScratch(const ConvDims& d, cudaStream_t stream)
      : x(x_bytes(d), stream),
        w(w_bytes(d), stream),
        y(y_bytes(d), stream),
        workspace(kWorkspace, stream) {
    SGDLAB_CUDA_CHECK(cudaMemsetAsync(x.get(), 0, x_bytes(d), stream));
    SGDLAB_CUDA_CHECK(cudaMemsetAsync(w.get(), 0, w_bytes(d), stream));
    SGDLAB_CUDA_CHECK(cudaMemsetAsync(y.get(), 0, y_bytes(d), stream));
  }
  static size_t x_bytes(const ConvDims& d) {
    return sizeof(float) * size_t(d.B) * d.T * d.Cin * d.H * d.W;
  }
  static size_t w_bytes(const ConvDims& d) {
    return sizeof(float) * size_t(d.T) * d.Cout * d.patch();
  }
  static size_t y_bytes(const ConvDims& d) {
    return sizeof(float) * size_t(d.B) * d.T * d.Cout * d.L();
  }
};

}  // namespace

void ConvPlan::cudnn_forward(cudnnHandle_t h, const float* x_, const float* w_, float* y_) const {
  const float one = 1.0f, zero = 0.0f;
  SGDLAB_CUDNN_CHECK(cudnnConvolutionForward(h, &one, x.d, x_, w.d, w_, fwd_conv.d, fwd, workspace,
                                             workspace_bytes, &zero, y.d, y_));
}

void ConvPlan::cudnn_backward_data(cudnnHandle_t h, const float* w_, const float* dy,
                                   float* dx) const {
  const float one = 1.0f, zero = 0.0f;
  SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, w.d, w_, y.d, dy, data_conv.d, bwd_data,
                                                  workspace, workspace_bytes, &zero, x.d, dx));
}

void ConvPlan::cudnn_backward_filter(cudnnHandle_t h, const float* x_, const float* dy,
                                     float* dw) const {
  const float one = 1.0f, zero = 0.0f;
  SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, x.d, x_, y.d, dy, filter_conv.d,
                                                    bwd_filter, workspace, workspace_bytes, &zero,
                                                    w.d, dw));
}

void set_tensor(TensorDesc& t, int n, int c, int h, int w) {
  SGDLAB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&t.d));
  SGDLAB_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(t.d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
}

void make_conv_plan(cudnnHandle_t handle, const ConvDims& d, ConvChoice choice, DeviceArena& arena,
                    ConvPlan& p, std::vector<std::string>& warnings) {
  set_tensor(p.x, d.B, d.T * d.Cin, d.H, d.W);
  set_tensor(p.y, d.B, d.T * d.Cout, d.Ho(), d.Wo());
  set_tensor(p.bias, 1, d.T * d.Cout, 1, 1);
  SGDLAB_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p.w.d));
  // [T, Cout, Cin, k, k] is the grouped filter (T*Cout, Cin, k, k).
  SGDLAB_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p.w.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                d.T * d.Cout, d.Cin, d.k, d.k));
  // Tensor-op math lets cuDNN offer TF32 kernels for FP32 data beside FMA ones; the math
  // type of the chosen result is then set on that direction's descriptor.
  const cudnnMathType_t offered = choice.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  set_conv(p.fwd_conv, d, offered);
  set_conv(p.data_conv, d, offered);
  set_conv(p.filter_conv, d, offered);

  constexpr int kMax = 16;
  int n = 0;
  cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
  cudnnConvolutionBwdDataAlgoPerf_t bd[kMax];
  cudnnConvolutionBwdFilterAlgoPerf_t bf[kMax];
  if (choice.autotune) {
    cudaStream_t stream = nullptr;
    SGDLAB_CUDNN_CHECK(cudnnGetStream(handle, &stream));
    FindScratch s(d, stream);
    SGDLAB_CUDNN_CHECK(cudnnFindConvolutionForwardAlgorithmEx(
        handle, p.x.d, s.x.get(), p.w.d, s.w.get(), p.fwd_conv.d, p.y.d, s.y.get(), kMax, &n, fwd,
        s.workspace.get(), FindScratch::kWorkspace));
    choose(fwd, n, "forward", p.fwd_conv, p.fwd, p.fwd_route);
    SGDLAB_CUDNN_CHECK(cudnnFindConvolutionBackwardDataAlgorithmEx(
        handle, p.w.d, s.w.get(), p.y.d, s.y.get(), p.data_conv.d, p.x.d, s.x.get(), kMax, &n, bd,
        s.workspace.get(), FindScratch::kWorkspace));
    choose(bd, n, "backward-data", p.data_conv, p.bwd_data, p.data_route);
    SGDLAB_CUDNN_CHECK(cudnnFindConvolutionBackwardFilterAlgorithmEx(
        handle, p.x.d, s.x.get(), p.y.d, s.y.get(), p.filter_conv.d, p.w.d, s.w.get(), kMax, &n, bf,
        s.workspace.get(), FindScratch::kWorkspace));
    choose(bf, n, "backward-filter", p.filter_conv, p.bwd_filter, p.filter_route);
  } else {
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x.d, p.w.d, p.fwd_conv.d,
                                                              p.y.d, kMax, &n, fwd));
    choose(fwd, n, "forward", p.fwd_conv, p.fwd, p.fwd_route);
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        handle, p.w.d, p.y.d, p.data_conv.d, p.x.d, kMax, &n, bd));
    choose(bd, n, "backward-data", p.data_conv, p.bwd_data, p.data_route);
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, p.x.d, p.y.d, p.filter_conv.d, p.w.d, kMax, &n, bf));
    choose(bf, n, "backward-filter", p.filter_conv, p.bwd_filter, p.filter_route);
  }

  size_t need = 0, bytes = 0;
  SGDLAB_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p.x.d, p.w.d, p.fwd_conv.d,
                                                             p.y.d, p.fwd, &bytes));
  need = std::max(need, bytes);
  SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
      handle, p.w.d, p.y.d, p.data_conv.d, p.x.d, p.bwd_data, &bytes));
  need = std::max(need, bytes);
  SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
      handle, p.x.d, p.y.d, p.filter_conv.d, p.w.d, p.bwd_filter, &bytes));
  need = std::max(need, bytes);
  p.workspace_bytes = need;
  p.workspace = need ? arena.allocate(need) : nullptr;
  route_lane_gemm(handle, d, choice, p, warnings);
}

}  // namespace sgdlab
