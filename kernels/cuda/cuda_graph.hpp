#pragma once
// A recorded step on the GPU: one instantiated CUDA graph, replayed on its stream.
// Move-only: the executable graph has one owner, which destroys it exactly once.
#include <utility>

#include "cuda/cuda_check.hpp"
#include "sgdlab/core/backend.hpp"

namespace sgdlab {

class CudaGraph final : public Recording {
 public:
  CudaGraph(cudaGraphExec_t exec, cudaStream_t stream) noexcept : exec_(exec), stream_(stream) {}
  CudaGraph(CudaGraph&& other) noexcept
      : exec_(std::exchange(other.exec_, nullptr)), stream_(other.stream_) {}
  CudaGraph& operator=(CudaGraph&& other) noexcept {
    if (this != &other) {
      reset();
      exec_ = std::exchange(other.exec_, nullptr);
      stream_ = other.stream_;
    }
    return *this;
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph() override { reset(); }

  void replay() override {
    SGDLAB_CHECK(exec_ != nullptr, "a graph that was not moved from");
    SGDLAB_CUDA_CHECK(cudaGraphLaunch(exec_, stream_));
  }
  bool empty() const noexcept { return exec_ == nullptr; }

 private:
  void reset() noexcept {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }

  cudaGraphExec_t exec_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace sgdlab
