#pragma once
// Device memory owned by a backend for its whole life.
#include <algorithm>
#include <vector>

#include "cuda/cuda_check.hpp"

namespace sgdlab {

// Blocks that are never freed while the backend lives: a captured graph may still point
// at a scratch area after a larger one replaced it.
class DeviceArena {
 public:
  DeviceArena() = default;
  DeviceArena(const DeviceArena&) = delete;
  DeviceArena& operator=(const DeviceArena&) = delete;
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

// Short-lived device memory, allocated and freed in stream order on `stream`: unlike
// cudaFree, freeing does not wait for the whole device, where another pack's stream may
// be recording a graph.
class TempDeviceBuffer {
 public:
  TempDeviceBuffer(size_t bytes, cudaStream_t stream) : stream_(stream) {
    SGDLAB_CUDA_CHECK(cudaMallocAsync(&ptr_, std::max<size_t>(bytes, 256), stream_));
  }
  ~TempDeviceBuffer() { cudaFreeAsync(ptr_, stream_); }
  TempDeviceBuffer(const TempDeviceBuffer&) = delete;
  TempDeviceBuffer& operator=(const TempDeviceBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

}  // namespace sgdlab
