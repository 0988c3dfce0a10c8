#pragma once
// Device memory owned by a backend for its whole life.
#include <algorithm>
#include <utility>
#include <vector>

#include "cuda/cuda_check.hpp"
#include "cuda/device_wide_lock.hpp"

namespace sgdlab {

// Blocks that are never freed while the backend lives: a captured graph may still point
// at a scratch area after a larger one replaced it.
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(DeviceArena&& other) noexcept : blocks_(std::exchange(other.blocks_, {})) {}
  DeviceArena& operator=(DeviceArena&&) = delete;  // would free blocks a graph may use
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
  ~DeviceArena() {
    if (blocks_.empty()) return;
    DeviceWideScope device_wide;
    for (void* p : blocks_) cudaFree(p);
  }
  void* allocate(size_t bytes) {
    void* p = nullptr;
    DeviceWideScope device_wide;
    SGDLAB_CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(bytes, 256)));
    blocks_.push_back(p);
    return p;
  }

 private:
  std::vector<void*> blocks_;
};

// A named scratch area that only grows, and never inside a graph capture: the trainer
// runs every step shape once before recording it, so a capture finds every area at its
// size (a cudaMalloc there could invalidate another stream's capture).
struct Scratch {
  void* ptr = nullptr;
  size_t bytes = 0;
  void* get(DeviceArena& arena, size_t need, cudaStream_t stream) {
    if (need <= bytes) return ptr;
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    SGDLAB_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
    SGDLAB_CHECK(capture == cudaStreamCaptureStatusNone, "a scratch area of ", need,
                 " bytes sized before the capture (it holds ", bytes, ")");
    ptr = arena.allocate(need);
    bytes = need;
    return ptr;
  }
};

// Short-lived device memory, allocated and freed in stream order on `stream`: unlike
// cudaFree, freeing does not wait for the whole device, where another pack's stream may
// be recording a graph.
class TempDeviceBuffer {
 public:
  TempDeviceBuffer(size_t bytes, cudaStream_t stream) : stream_(stream) {
    SGDLAB_CUDA_CHECK(cudaMallocAsync(&ptr_, std::max<size_t>(bytes, 256), stream_));
  }
  ~TempDeviceBuffer() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  TempDeviceBuffer(TempDeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), stream_(other.stream_) {}
  TempDeviceBuffer& operator=(TempDeviceBuffer&&) = delete;
  TempDeviceBuffer(const TempDeviceBuffer&) = delete;
  TempDeviceBuffer& operator=(const TempDeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace sgdlab
