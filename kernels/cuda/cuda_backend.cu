// The CUDA backend: dense layers as strided-batched GEMMs (gpu_dense.hpp), cuDNN
// grouped convolutions (groupCount = T) or sgdlab's lane-GEMM kernel, sgdlab's kernels
// for the rest (pooling included, for the CPU's tie rule). One
// instance owns one stream, one cuBLAS and one cuDNN handle, shared by every layer of
// the pack that runs on it.
#include <nvtx3/nvToolsExt.h>
#include <cub/device/device_segmented_radix_sort.cuh>

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <tuple>
#include <utility>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/cuda_graph.hpp"
#include "cuda/cudnn_conv.hpp"
#include "cuda/device_arena.hpp"
#include "cuda/device_wide_lock.hpp"
#include "cuda/gpu_dense.hpp"
#include "cuda/kernels.hpp"
#include "sgdlab/core/backend.hpp"

namespace sgdlab {
namespace {

// FP32 peak: SMs x FP32 lanes per SM x 2 (an FMA) x clock; bandwidth: two transfers
// per memory clock over the bus (HBM and GDDR as the driver reports them).
PeakRates peak_of(int device, const cudaDeviceProp& prop) {
  int sm_khz = 0, mem_khz = 0, bus_bits = 0;
  SGDLAB_CUDA_CHECK(cudaDeviceGetAttribute(&sm_khz, cudaDevAttrClockRate, device));
  SGDLAB_CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, device));
  SGDLAB_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device));
  // 64 FP32 lanes per SM on sm_60/70/80, 128 on sm_86, 89, 90 and later.
  const bool wide = prop.major > 8 || (prop.major == 8 && prop.minor >= 6);
  const double lanes = wide ? 128 : 64;
  return {double(prop.multiProcessorCount) * lanes * 2 * sm_khz * 1e3,
          2.0 * mem_khz * 1e3 * bus_bits / 8};
}

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const BackendOptions& options) : options_(options) {
    SGDLAB_CUDA_CHECK(cudaGetDevice(&device_));
    cudaDeviceProp prop{};
    SGDLAB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    name_ = "cuda:" + std::to_string(device_) + " " + prop.name + (options_.tf32 ? ", TF32" : "") +
            (options_.autotune ? ", autotuned" : "") +
            (options_.conv_kernel == ConvKernel::LaneGemm ? ", lane-GEMM convolutions"
             : options_.conv_kernel == ConvKernel::Cudnn  ? ", cuDNN convolutions"
                                                          : "");
    peak_ = peak_of(device_, prop);
    DeviceWideScope device_wide;
    SGDLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      SGDLAB_CUBLAS_CHECK(cublasCreate(&cublas_));
      SGDLAB_CUBLAS_CHECK(cublasSetStream(cublas_, stream_));
      SGDLAB_CUBLAS_CHECK(cublasSetMathMode(
          cublas_, options_.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
      // A fixed workspace lets cuBLAS run inside graph capture without allocating.
      const size_t cublas_ws = 32u << 20;
      void* ws = arena_.allocate(cublas_ws);
      SGDLAB_CUBLAS_CHECK(cublasSetWorkspace(cublas_, ws, cublas_ws));
      dense_ = std::make_unique<GpuDense>(cublas_, stream_, ws, cublas_ws, options_.tf32,
                                          options_.dense_epilogues, warnings_);
      SGDLAB_CUDNN_CHECK(cudnnCreate(&cudnn_));
      SGDLAB_CUDNN_CHECK(cudnnSetStream(cudnn_, stream_));
      allocate_scratch();
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudaBackend() override { release(); }

  Device device() const override { return Device::Cuda; }
  std::string describe() const override { return name_; }
  PeakRates peak_rates() const override { return peak_; }
  std::vector<std::string> take_warnings() override { return std::exchange(warnings_, {}); }

  void* allocate(size_t bytes) override {
    void* p = nullptr;
    DeviceWideScope device_wide;
    const cudaError_t err = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: the device goes on working
      SGDLAB_OUT_OF_MEMORY("out of GPU memory allocating ", bytes, " bytes (use fewer lanes, ",
                           "a smaller batch or a smaller model)");
    }
    SGDLAB_CUDA_CHECK(err);
    return p;
  }
  size_t memory_available() const override {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
      (void)cudaGetLastError();
      return SIZE_MAX;
    }
    return free;
  }
  void deallocate(void* ptr) noexcept override {
    DeviceWideScope device_wide;
    cudaFree(ptr);
  }
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
    // The trainer has run the body once already, so every library is initialised and
    // every plan and scratch area exists; relaxed mode, as a host-side plan lookup or a
    // cuBLASLt descriptor may still be made. No device-wide call on another thread may
    // interleave (device_wide_lock.hpp).
    CaptureScope capturing;
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
  void plan_dense(const DenseDims& d) override { dense_->plan(d); }
  void dense_forward(const DenseDims& d, const float* x, const float* w, const float* b,
                     float* y) override {
    dense_->forward(d, x, w, b, y);
  }
  void dense_backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                      float* dx, float* dw, float* db) override {
    dense_->backward(d, x, w, dy, dx, dw, db);
  }

  void conv2d_forward(const ConvDims& d, const float* x, const float* w, const float* b,
                      float* y) override {
    ConvPlan& p = conv_plan(d);
    if (p.fwd_route.lane_gemm)
      return cuda::conv_gemm_forward(stream_, p.fwd_route.tile, d, x, w, b, y);
    p.cudnn_forward(cudnn_, x, w, y);
    const float one = 1.0f;
    SGDLAB_CUDNN_CHECK(cudnnAddTensor(cudnn_, &one, p.bias.d, b, &one, p.y.d, y));
  }
  void conv2d_backward(const ConvDims& d, const float* x, const float* w, const float* dy,
                       float* dx, float* dw, float* db) override {
    ConvPlan& p = conv_plan(d);
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUDNN_CHECK(cudnnConvolutionBackwardBias(cudnn_, &one, p.y.d, dy, &zero, p.bias.d, db));
    if (p.filter_route.lane_gemm)
      cuda::conv_gemm_backward_filter(stream_, p.filter_route.tile, d, x, dy, dw);
    else
      p.cudnn_backward_filter(cudnn_, x, dy, dw);
    if (!dx) return;
    if (p.data_route.lane_gemm)
      cuda::conv_gemm_backward_data(stream_, p.data_route.tile, d, w, dy, dx);
    else
      p.cudnn_backward_data(cudnn_, w, dy, dx);
  }

  void plan_conv2d(const ConvDims& d) override { conv_plan(d); }

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
    cuda::maxpool_forward(stream_, d, x, y);
  }
  void maxpool_backward(const PoolDims& d, const float* x, const float*, const float* dy,
                        float* dx) override {
    cuda::maxpool_backward(stream_, d, x, dy, dx);
  }

  void relu_maxpool_forward(const PoolDims& d, const float* x, float* y) override {
    cuda::relu_maxpool_forward(stream_, d, x, y);
  }
  void relu_maxpool_backward(const PoolDims& d, const float* x, const float* dy,
                             float* dx) override {
    cuda::relu_maxpool_backward(stream_, d, x, dy, dx);
  }
  void activation_dropout_forward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                  const int64_t* counters, const float* x, float* act,
                                  float* y) override {
    cuda::activation_dropout_forward(stream_, d.activation, d.dropout, lanes.dropout, lanes.seed,
                                     counters, x, act, y);
  }
  void activation_dropout_backward(const ActivationDropoutDims& d, const LaneArrays& lanes,
                                   const int64_t* counters, const float* act, const float* dy,
                                   float* dx) override {
    cuda::activation_dropout_backward(stream_, d.activation, d.dropout, lanes.dropout, lanes.seed,
                                      counters, act, dy, dx);
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
                    float* loss_sum, float* correct, LaneState* state) override {
    auto* rows =
        static_cast<float*>(xent_rows_.get(arena_, size_t(d.B) * d.T * 2 * sizeof(float), stream_));
    cuda::softmax_xent(stream_, d, logits, labels, dlogits, rows, rows + size_t(d.B) * d.T,
                       loss_sum, correct, state);
  }
  void augment(const AugmentDims& d, const LaneArrays& lanes, const int64_t* counters,
               float background, const float* x, float* y) override {
    auto* rows = d.elastic
                     ? static_cast<Displacement*>(elastic_rows_.get(
                           arena_, size_t(d.B) * d.T * d.H * d.W * sizeof(Displacement), stream_))
                     : nullptr;
    cuda::augment(stream_, d, lanes.augment, lanes.seed, counters, background, x, y, rows);
  }
  void softmax(const XentDims& d, const float* logits, float* probs) override {
    cuda::softmax(stream_, d, logits, probs);
  }

  void sgd_momentum(const FlatDims& d, const LaneArrays& lanes, float* params, const float* grads,
                    float* velocity, int64_t* counters) override {
    cuda::sgd_momentum(stream_, d, lanes, params, grads, velocity, counters);
  }
  void avgpool_forward(const AvgPoolDims& d, const float* x, float* y) override {
    cuda::avgpool_forward(stream_, d, x, y);
  }
  void avgpool_backward(const AvgPoolDims& d, const float* dy, float* dx) override {
    cuda::avgpool_backward(stream_, d, dy, dx);
  }
  void ema_update(const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                  const float* params, float* average) override {
    cuda::ema_update(stream_, d, lanes, counters, params, average);
  }
  void batchnorm_forward(const BatchNormDims& d, bool training, const LaneArrays& lanes,
                         const BatchNormTensors& p, const float* x, float* y) override {
    cuda::batchnorm_forward(stream_, d, training, lanes.state, p, x, y);
  }
  void batchnorm_backward(const BatchNormDims& d, const float* x, const float* gamma,
                          const float* dy, float* dx, float* dgamma, float* dbeta) override {
    cuda::batchnorm_backward(stream_, d, x, gamma, dy, dx, dgamma, dbeta);
  }
  void adam_update(const AdamDims& d, const LaneArrays& lanes, float* params, const float* grads,
                   float* m, float* v, int64_t* counters) override {
    auto* factors = static_cast<AdamFactors*>(
        adam_factors_.get(arena_, size_t(d.T) * sizeof(AdamFactors), stream_));
    cuda::adam_update(stream_, d, lanes, params, grads, m, v, counters, factors);
  }
  void scheduled_rates(int T, const RateSchedule* schedules, const int64_t* counters,
                       float* lr) override {
    cuda::scheduled_rates(stream_, T, schedules, counters, lr);
  }
  void grad_stats(const GradStatsDims& d, const float* grads, float* accum) override {
    auto* partial = static_cast<float*>(
        grad_partial_.get(arena_, size_t(d.n_slices) * d.T * 2 * sizeof(float), stream_));
    cuda::grad_stats(stream_, d.slices, d.n_slices, d.n_layers, d.T, grads, partial, accum,
                     grad_done_);
  }

  void gather(const GatherDims& d, const float* data, const int32_t* labels, const uint32_t* perm,
              const int64_t* counters, float* x, int32_t* y) override {
    cuda::gather(stream_, d, data, labels, perm, counters, x, y);
  }

  // Philox keys, then a stable segmented radix sort per lane (CUB): ties keep index
  // order, as the CPU's sort of (key, index) pairs.
  void shuffle(int T, int n, const uint64_t* seeds, uint32_t epoch, uint32_t* perm) override {
    const size_t total = size_t(T) * n;
    auto* keys =
        static_cast<uint32_t*>(shuffle_keys_.get(arena_, total * 2 * sizeof(uint32_t), stream_));
    auto* values =
        static_cast<uint32_t*>(shuffle_values_.get(arena_, total * sizeof(uint32_t), stream_));
    auto* d_offsets =
        static_cast<int*>(shuffle_offsets_.get(arena_, (size_t(T) + 1) * sizeof(int), stream_));
    if (offsets_shape_ != std::make_pair(T, n)) {  // the same every epoch of a pack: once
      std::vector<int> offsets(size_t(T) + 1);
      for (int t = 0; t <= T; ++t) offsets[t] = t * n;
      SGDLAB_CUDA_CHECK(cudaMemcpyAsync(d_offsets, offsets.data(), offsets.size() * sizeof(int),
                                        cudaMemcpyHostToDevice, stream_));
      SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `offsets` goes out of scope
      offsets_shape_ = {T, n};
    }
    cuda::shuffle_keys(stream_, T, n, seeds, epoch, keys, values);
    size_t temp_bytes = 0;
    SGDLAB_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        nullptr, temp_bytes, keys, keys + total, values, perm, int(total), T, d_offsets,
        d_offsets + 1, 0, 32, stream_));
    void* temp = shuffle_temp_.get(arena_, temp_bytes, stream_);
    SGDLAB_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairs(
        temp, temp_bytes, keys, keys + total, values, perm, int(total), T, d_offsets, d_offsets + 1,
        0, 32, stream_));
    SGDLAB_LAUNCH_CHECK();
  }

 private:
  // The grad-stats ticket counter (its kernel leaves it at zero for the next launch) and
  // the step's scratch areas at a size that fits the study's packs, zeroed, before any
  // capture: an allocation or memset first recorded inside a capture would not run if
  // that capture were abandoned.
  void allocate_scratch() {
    constexpr size_t kInitialScratch = 1u << 20;
    grad_done_ = static_cast<unsigned*>(arena_.allocate(sizeof(unsigned)));
    SGDLAB_CUDA_CHECK(cudaMemsetAsync(grad_done_, 0, sizeof(unsigned), stream_));
    for (Scratch* s : {&xent_rows_, &grad_partial_}) {
      SGDLAB_CUDA_CHECK(
          cudaMemsetAsync(s->get(arena_, kInitialScratch, stream_), 0, kInitialScratch, stream_));
    }
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

  void release() noexcept {
    DeviceWideScope device_wide;
    dense_.reset();
    if (cudnn_) cudnnDestroy(cudnn_);
    if (cublas_) cublasDestroy(cublas_);
    if (stream_) cudaStreamDestroy(stream_);
    cudnn_ = nullptr;
    cublas_ = nullptr;
    stream_ = nullptr;
  }

  // Algorithms are timed (with autotune) only on a stream that is not being captured;
  // plan_conv2d() lets a trainer plan its shapes before it records a step.
  ConvPlan& conv_plan(const ConvDims& d) {
    const auto key = std::make_tuple(d.B, d.T, d.Cin, d.H, d.W, d.Cout, d.k, d.stride, d.pad);
    auto it = conv_plans_.find(key);
    if (it != conv_plans_.end()) return *it->second;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    SGDLAB_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
    ConvChoice choice{options_.tf32, options_.autotune && capture == cudaStreamCaptureStatusNone,
                      options_.conv_kernel};
    if (choice.autotune) synchronize();
    auto p = std::make_unique<ConvPlan>();
    make_conv_plan(cudnn_, d, choice, arena_, *p, warnings_);
    return *conv_plans_.emplace(key, std::move(p)).first->second;
  }

  BackendOptions options_;
  int device_ = 0;
  std::string name_;
  PeakRates peak_;
  std::vector<std::string> warnings_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  cudnnHandle_t cudnn_ = nullptr;
  std::unique_ptr<GpuDense> dense_;
  DeviceArena arena_;
  std::map<std::tuple<int, int, int, int, int, int, int, int, int>, std::unique_ptr<ConvPlan>>
      conv_plans_;
  Scratch xent_rows_, grad_partial_, elastic_rows_, adam_factors_, shuffle_keys_, shuffle_values_,
      shuffle_offsets_, shuffle_temp_;
  std::pair<int, int> offsets_shape_{-1, -1};  // what shuffle_offsets_ holds
  unsigned* grad_done_ = nullptr;
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

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions& options) {
  std::string why;
  if (!cuda_available(&why)) SGDLAB_INPUT_ERROR("--device cuda: no usable GPU: ", why);
  return std::make_unique<CudaBackend>(options);
}

}  // namespace sgdlab
