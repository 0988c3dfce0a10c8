#include "cuda/device_wide_lock.hpp"

namespace sgdlab {
namespace {

std::shared_mutex& device_wide_mutex() {
  static std::shared_mutex m;
  return m;
}

thread_local int t_captures = 0;   // captures open on this thread
thread_local int t_exclusive = 0;  // DeviceWideScopes open on this thread

}  // namespace

CaptureScope::CaptureScope() {
  if (t_exclusive == 0) lock_ = std::shared_lock<std::shared_mutex>(device_wide_mutex());
  ++t_captures;
}

CaptureScope::~CaptureScope() {
  --t_captures;
}

DeviceWideScope::DeviceWideScope() {
  if (t_captures == 0 && t_exclusive == 0)
    lock_ = std::unique_lock<std::shared_mutex>(device_wide_mutex());
  ++t_exclusive;
}

DeviceWideScope::~DeviceWideScope() {
  --t_exclusive;
}

}  // namespace sgdlab
