#pragma once
// cudaMalloc, cudaFree and the creation and destruction of streams and library handles
// may synchronise the whole device, which invalidates a graph being captured on another
// stream: a sweep trains several packs at once, one thread and stream each, and one
// pack's setup or teardown can fall into another's capture. Captures hold one
// process-wide lock shared; those calls hold it exclusively. A thread that captures, or
// already holds the lock, does not wait for it again: relaxed capture allows the call
// there, and waiting would deadlock.
#include <mutex>
#include <shared_mutex>

namespace sgdlab {

// Held for the duration of a capture on the calling thread.
class CaptureScope {
 public:
  CaptureScope();
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;

 private:
  std::shared_lock<std::shared_mutex> lock_;
};

// Held around calls that may synchronise the device.
class DeviceWideScope {
 public:
  DeviceWideScope();
  ~DeviceWideScope();
  DeviceWideScope(const DeviceWideScope&) = delete;
  DeviceWideScope& operator=(const DeviceWideScope&) = delete;

 private:
  std::unique_lock<std::shared_mutex> lock_;  // empty when this thread needs no lock
};

}  // namespace sgdlab
