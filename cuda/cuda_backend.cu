// The CUDA backend: cuBLAS strided-batched GEMMs for dense layers, cuDNN grouped
// convolutions (groupCount = T) and pooling, sgdlab's kernels for the rest. One
// instance owns one stream, one cuBLAS and one cuDNN handle, shared by every layer of
// the pack that runs on it.
#include <nvtx3/nvToolsExt.h>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "kernels/cuda/kernels.hpp"
#include "sgdlab/backend.hpp"

namespace sgdlab {
namespace {

// Device memory that is never freed while the backend lives: a captured graph may
// still point at a scratch area after a larger one replaced it.
class DeviceArena {
 public:
  ~DeviceArena() {
    for (void* p : blocks_) cudaFree(p);
  }
  void* allocate(size_t bytes) {
    void* p = nullptr;
    SGDLAB_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
    blocks_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> blocks_;
};

// A named scratch area that only grows.
struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  void* get(DeviceArena& arena, size_t need) {
    if (need > bytes) {
      ptr = arena.allocate(need);
      bytes = need;
    }
    return ptr;
  }
};

template <class T, cudnnStatus_t (*Destroy)(T)>
struct CudnnDescriptor {
  T d = nullptr;
  CudnnDescriptor() = default;
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  ~CudnnDescriptor() {
    if (d) Destroy(d);
  }
};
using TensorDesc = CudnnDescriptor<cudnnTensorDescriptor_t, cudnnDestroyTensorDescriptor>;
using FilterDesc = CudnnDescriptor<cudnnFilterDescriptor_t, cudnnDestroyFilterDescriptor>;
using ConvDesc = CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnDestroyConvolutionDescriptor>;
using PoolDesc = CudnnDescriptor<cudnnPoolingDescriptor_t, cudnnDestroyPoolingDescriptor>;

void set_tensor(TensorDesc& t, int n, int c, int h, int w) {
  SGDLAB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&t.d));
  SGDLAB_CUDNN_CHECK(
      cudnnSetTensor4dDescriptor(t.d, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w));
}

// A convolution of one shape: descriptors, algorithms chosen once, and a workspace.
struct ConvPlan {
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

struct PoolPlan {
  TensorDesc x, y;
  PoolDesc pool;
};

// The first heuristic choice that works and is deterministic (a seeded run gives the
// same numbers twice), with FMA math (no TF32).
template <class Perf>
const Perf& pick(const Perf* perf, int count, const char* what) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].determinism == CUDNN_DETERMINISTIC)
      return perf[i];
  SGDLAB_THROW("cuDNN: no deterministic ", what, " algorithm for this shape");
}

class CudaGraph final : public Recording {
 public:
  CudaGraph(cudaGraphExec_t exec, cudaStream_t stream) : exec_(exec), stream_(stream) {}
  ~CudaGraph() override { cudaGraphExecDestroy(exec_); }
  void replay() override { SGDLAB_CUDA_CHECK(cudaGraphLaunch(exec_, stream_)); }

 private:
  cudaGraphExec_t exec_;
  cudaStream_t stream_;
};

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    SGDLAB_CUDA_CHECK(cudaGetDevice(&device_));
    cudaDeviceProp prop{};
    SGDLAB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    name_ = "cuda:" + std::to_string(device_) + " " + prop.name;
    SGDLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      SGDLAB_CUBLAS_CHECK(cublasCreate(&cublas_));
      SGDLAB_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
      SGDLAB_CUBLAS_CHECK(cublasSetMathMode(cublas_, CUBLAS_DEFAULT_MATH));  // FP32, no TF32
      // A fixed workspace lets cuBLAS run inside graph capture without allocating.
      const size_t cublas_ws = 32u << 20;
      SGDLAB_CUBLAS_CHECK(cublasSetWorkspace(cublas_, arena_.allocate(cublas_ws), cublas_ws));
      SGDLAB_CUDNN_CHECK(cudnnCreate(&cudnn_));
      SGDLAB_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaBackend() override { release(); }

  Device device() const override { return Device::Cuda; }
  std::string describe() const override { return name_; }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    SGDLAB_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 1)));
    return p;
  }
  void deallocate(void* ptr) noexcept override { cudaFree(ptr); }
  void upload(void* dst, const void* src, size_t bytes) override {
    SGDLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
    // The host buffer may go away on return, and other streams may read the data next.
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void download(void* dst, const void* src, size_t bytes) override {
    SGDLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void copy(void* dst, const void* src, size_t bytes) override {
    SGDLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, stream_));
  }
  void fill_zero(void* dst, size_t bytes) override {
    SGDLAB_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, stream_));
  }
  void synchronize() override { SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  void range_push(const char* name) override { nvtxRangePushA(name); }
  void range_pop() override { nvtxRangePop(); }

  std::unique_ptr<Recording> record(const std::function<void()>& body) override {
    // Relaxed mode: the first use of a shape may allocate a plan or scratch area.
    SGDLAB_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
    cudaGraph_t graph = nullptr;
    try {
      body();
    } catch (...) {
      if (cudaStreamEndCapture(stream_, &graph) == cudaSuccess && graph) cudaGraphDestroy(graph);
      throw;
    }
    SGDLAB_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    const cudaError_t err = cudaGraphInstantiate(&exec, graph, 0);
    cudaGraphDestroy(graph);
    SGDLAB_CUDA_CHECK(err);
    return std::make_unique<CudaGraph>(exec, stream_);
  }

  // Row-major lane t of x is column-major (in x B) with ld T*in and lane stride in;
  // so Y^T = W^T X^T is one strided-batched GEMM over the lanes.
  void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                     float* y) override {
    cuda::broadcast_bias(stream_, d.B, d.T, d.out, b, y);
    const float one = 1.0f;
    SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
        cublas_, CUBLAS_OP_N, CUBLAS_OP_N, d.out, d.B, d.in, &one, w, d.out,
        (long long)d.in * d.out, x, d.T * d.in, d.in, &one, y, d.T * d.out, d.out, d.T));
  }
  void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    const float one = 1.0f, zero = 0.0f;
    // dW^T (out x in) = dY^T (out x B) * X (B x in)
    SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
        cublas_, CUBLAS_OP_N, CUBLAS_OP_T, d.out, d.in, d.B, &one, dy, d.T * d.out, d.out, x,
        d.T * d.in, d.in, &zero, dw, d.out, (long long)d.in * d.out, d.T));
    cuda::bias_grad(stream_, d.B, d.T, d.out, dy, db);
    if (dx)  // dX^T (in x B) = W (in x out, i.e. W^T transposed) * dY^T
      SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
          cublas_, CUBLAS_OP_T, CUBLAS_OP_N, d.in, d.B, d.out, &one, w, d.out,
          (long long)d.in * d.out, dy, d.T * d.out, d.out, &zero, dx, d.T * d.in, d.in, d.T));
  }

  void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                      float* y) override {
    ConvPlan& p = conv_plan(d);
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUDNN_CHECK(cudnnConvolutionForward(cudnn_, &one, p.x.d, x, p.w.d, w, p.conv.d, p.fwd,
                                               p.workspace, p.workspace_bytes, &zero, p.y.d, y));
    SGDLAB_CUDNN_CHECK(cudnnAddTensor(cudnn_, &one, p.bias.d, b, &one, p.y.d, y));
  }
  void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    ConvPlan& p = conv_plan(d);
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_, &one, p.y.d, dy, &zero, p.bias.d, db));
    SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardFilter(cudnn_, &one, p.x.d, x, p.y.d, dy, p.conv.d,
                                                      p.bwd_filter, p.workspace, p.workspace_bytes,
                                                      &zero, p.w.d, dw));
    if (dx)
      SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_, &one, p.w.d, w, p.y.d, dy, p.conv.d,
                                                      p.bwd_data, p.workspace, p.workspace_bytes,
                                                      &zero, p.x.d, dx));
  }

  void local2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                       float* y) override {
    cuda::local2d_forward(stream_, d, x, w, b, y);
  }
  void local2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                        float* dx, float* dw, float* db) override {
    cuda::local2d_backward_weight(stream_, d, x, dy, dw, db);
    if (dx) cuda::local2d_backward_data(stream_, d, w, dy, dx);
  }

  void maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    PoolPlan& p = pool_plan(d);
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUDNN_CHECK(cudnnPoolingForward(cudnn_, p.pool.d, &one, p.x.d, x, &zero, p.y.d, y));
  }
  void maxpool_backward(const PoolDims& d, const float* x, const float* y, const float* dy,
                        float* dx) override {
    PoolPlan& p = pool_plan(d);
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUDNN_CHECK(cudnnPoolingBackward(cudnn_, p.pool.d, &one, p.y.d, y, p.y.d, dy, p.x.d, x,
                                            &zero, p.x.d, dx));
  }

  void activation_forward(Activation a, size_t n, const float* x, float* y) override {
    cuda::activation_forward(stream_, a, n, x, y);
  }
  void activation_backward(Activation a, size_t n, const float* y, const float* dy,
                           float* dx) override {
    cuda::activation_backward(stream_, a, n, y, dy, dx);
  }

  void dropout_forward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                       const float* x, float* y) override {
    cuda::dropout(stream_, d, lanes.dropout, lanes.seed, counters, x, y);
  }
  void dropout_backward(const DropoutDims& d, const LaneArrays& lanes, const int64_t* counters,
                        const float* dy, float* dx) override {
    cuda::dropout(stream_, d, lanes.dropout, lanes.seed, counters, dy, dx);
  }

  void softmax_xent(const XentDims& d, const float* logits, const int32_t* labels, float* dlogits,
                    float* loss_sum, float* correct, int* frozen) override {
    auto* rows = static_cast<float*>(xent_rows_.get(arena_, size_t(d.B) * d.T * 2 * sizeof(float)));
    cuda::softmax_xent(stream_, d, logits, labels, dlogits, rows, rows + size_t(d.B) * d.T,
                       loss_sum, correct, frozen);
  }
  void softmax(const XentDims& d, const float* logits, float* probs) override {
    cuda::softmax(stream_, d, logits, probs);
  }

  void sgd_momentum(const ParamSlice* slices, int n_slices, int T, size_t total,
                    const LaneArrays& lanes, float* params, const float* grads,
                    float* velocity) override {
    cuda::sgd_momentum(stream_, slices, n_slices, total, T, lanes.lr, lanes.momentum, lanes.frozen,
                       params, grads, velocity);
  }
  void grad_stats(const ParamSlice* slices, int n_slices, int n_layers, int T, const float* grads,
                  float* accum) override {
    auto* partial =
        static_cast<float*>(grad_partial_.get(arena_, size_t(n_slices) * T * 2 * sizeof(float)));
    cuda::grad_stats(stream_, slices, n_slices, n_layers, T, grads, partial, accum);
  }

  void gather(int B, int T, int features, const float* data, const int32_t* labels,
              const uint32_t* perm, size_t perm_stride, const int64_t* counters, size_t step_stride,
              size_t offset, float* x, int32_t* y) override {
    cuda::gather(stream_, B, T, features, data, labels, perm, perm_stride, counters, step_stride,
                 offset, x, y);
  }

  // Philox keys, then a stable segmented radix sort per lane (CUB): ties keep index
  // order, as the CPU's sort of (key, index) pairs.
  void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) override {
    const size_t total = size_t(T) * n;
    auto* keys = static_cast<uint32_t*>(shuffle_keys_.get(arena_, total * 2 * sizeof(uint32_t)));
    auto* values = static_cast<uint32_t*>(shuffle_values_.get(arena_, total * sizeof(uint32_t)));
    std::vector<int> offsets(size_t(T) + 1);
    for (int t = 0; t <= T; ++t) offsets[t] = t * n;
    auto* d_offsets = static_cast<int*>(shuffle_offsets_.get(arena_, offsets.size() * sizeof(int)));
    SGDLAB_CUDA_CHECK(cudaMemcpyAsync(d_offsets, offsets.data(), offsets.size() * sizeof(int),
                                      cudaMemcpyHostToDevice, stream_));
    cuda::shuffle_keys(stream_, T, n, seeds, epoch, keys, values);
    size_t temp_bytes = 0;
    SGDLAB_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        nullptr, temp_bytes, keys, keys + total, values, perm, int(total), T, d_offsets,
        d_offsets + 1, 0, 32, stream_));
    void* temp = shuffle_temp_.get(arena_, temp_bytes);
    SGDLAB_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        temp, temp_bytes, keys, keys + total, values, perm, int(total), T, d_offsets, d_offsets + 1,
        0, 32, stream_));
    SGDLAB_LAUNCH_CHECK();
    // offsets is a host vector that goes out of scope.
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void advance_counters(int64_t* counters) override { cuda::advance_counters(stream_, counters); }

 private:
  void release() noexcept {
    if (cudnn_) cudnnDestroy(cudnn_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    cudnn_ = nullptr;
    cublas_ = nullptr;
    stream_ = nullptr;
  }

  ConvPlan& conv_plan(const ConvDims& d) {
    const auto key = std::make_tuple(d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad);
    auto it = conv_plans_.find(key);
    if (it != conv_plans_.end()) return *it->second;
    auto p = std::make_unique<ConvPlan>();
    set_tensor(p->x, d.B, d.T * d.Cin, d.H, d.W);
    set_tensor(p->y, d.B, d.T * d.Cout, d.Ho(), d.Wo());
    set_tensor(p->bias, 1, d.T * d.Cout, 1, 1);
    SGDLAB_CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w.d));
    // [T, Cout, Cin, k, k] is the grouped filter (T*Cout, Cin, k, k).
    SGDLAB_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w.d, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW,
                                                  d.T * d.Cout, d.Cin, d.k, d.k));
    SGDLAB_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv.d));
    SGDLAB_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv.d, d.pad, d.pad, d.stride, d.stride,
                                                       1, 1, CUDNN_CROSS_CORRELATION,
                                                       CUDNN_DATA_FLOAT));
    SGDLAB_CUDNN_CHECK(cudnnSetConvolutionGroupCount(p->conv.d, d.T));
    SGDLAB_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv.d, CUDNN_FMA_MATH));
    constexpr int kMax = 16;
    int n = 0;
    cudnnConvolutionFwdAlgoPerf_t fwd[kMax];
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(cudnn_, p->x.d, p->w.d, p->conv.d,
                                                              p->y.d, kMax, &n, fwd));
    const auto& f = pick(fwd, n, "forward");
    cudnnConvolutionBwdDataAlgoPerf_t bd[kMax];
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(
        cudnn_, p->w.d, p->y.d, p->conv.d, p->x.d, kMax, &n, bd));
    const auto& b = pick(bd, n, "backward-data");
    cudnnConvolutionBwdFilterAlgoPerf_t bf[kMax];
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        cudnn_, p->x.d, p->y.d, p->conv.d, p->w.d, kMax, &n, bf));
    const auto& g = pick(bf, n, "backward-filter");
    p->fwd = f.algo;
    p->bwd_data = b.algo;
    p->bwd_filter = g.algo;
    size_t need = 0, bytes = 0;
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(cudnn_, p->x.d, p->w.d, p->conv.d,
                                                               p->y.d, p->fwd, &bytes));
    need = std::max(need, bytes);
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(
        cudnn_, p->w.d, p->y.d, p->conv.d, p->x.d, p->bwd_data, &bytes));
    need = std::max(need, bytes);
    SGDLAB_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(
        cudnn_, p->x.d, p->y.d, p->conv.d, p->w.d, p->bwd_filter, &bytes));
    need = std::max(need, bytes);
    p->workspace_bytes = need;
    p->workspace = need ? arena_.allocate(need) : nullptr;
    return *conv_plans_.emplace(key, std::move(p)).first->second;
  }

  PoolPlan& pool_plan(const PoolDims& d) {
    const auto key = std::make_tuple(d.B, d.T, d.C, d.H, d.W, d.k, d.stride);
    auto it = pool_plans_.find(key);
    if (it != pool_plans_.end()) return *it->second;
    auto p = std::make_unique<PoolPlan>();
    set_tensor(p->x, d.B, d.T * d.C, d.H, d.W);
    set_tensor(p->y, d.B, d.T * d.C, d.Ho(), d.Wo());
    SGDLAB_CUDNN_CHECK(cudnnCreatePoolingDescriptor(&p->pool.d));
    SGDLAB_CUDNN_CHECK(cudnnSetPooling2dDescriptor(p->pool.d, CUDNN_POOLING_MAX_DETERMINISTIC,
                                                   CUDNN_NOT_PROPAGATE_NAN, d.k, d.k, 0, 0,
                                                   d.stride, d.stride));
    return *pool_plans_.emplace(key, std::move(p)).first->second;
  }

  int device_ = 0;
  std::string name_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  DeviceArena arena_;
  std::map<std::tuple<int, int, int, int, int, int, int, int, int>, std::unique_ptr<ConvPlan>>
      conv_plans_;
  std::map<std::tuple<int, int, int, int, int, int, int>, std::unique_ptr<PoolPlan>> pool_plans_;
  Scratch xent_rows_, grad_partial_, shuffle_keys_, shuffle_values_, shuffle_offsets_,
      shuffle_temp_;
};

}  // namespace

bool cuda_compiled() {
  return true;
}

bool cuda_available(std::string* why) {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    cudaGetLastError();  // clear it: the process goes on without CUDA
    if (why)
      *why = std::string(err == cudaErrorInsufficientDriver || err == cudaErrorNoDevice
                             ? "no NVIDIA GPU or driver found"
                             : "CUDA cannot start") +
             " (" + cudaGetErrorString(err) + ")";
    return false;
  }
  if (count == 0) {
    if (why) *why = "no CUDA device";
    return false;
  }
  return true;
}

std::unique_ptr<Backend> make_cuda_backend() {
  std::string why;
  if (!cuda_available(&why)) SGDLAB_INPUT_ERROR("--device cuda: no usable GPU: ", why);
  return std::make_unique<CudaBackend>();
}

}  // namespace sgdlab
