#pragma once
// Move-only owners of backend memory.
#include <cstddef>
#include <utility>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

template <class T>
class Buffer {
 public:
  Buffer() = default;
  Buffer(Backend& backend, size_t count)
      : backend_(&backend),
        count_(count),
        ptr_(count ? static_cast<T*>(backend.allocate(count * sizeof(T))) : nullptr) {}
  ~Buffer() { reset(); }
  Buffer(Buffer&& o) noexcept
      : backend_(std::exchange(o.backend_, nullptr)),
        count_(std::exchange(o.count_, 0)),
        ptr_(std::exchange(o.ptr_, nullptr)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      reset();
      backend_ = std::exchange(o.backend_, nullptr);
      count_ = std::exchange(o.count_, 0);
      ptr_ = std::exchange(o.ptr_, nullptr);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  T* get() const { return ptr_; }
  size_t size() const { return count_; }
  size_t bytes() const { return count_ * sizeof(T); }

  // The whole buffer from a vector of exactly its size.
  void upload(const std::vector<T>& host) {
    SGDLAB_CHECK(host.size() == count_, "an upload of the buffer's ", count_, " elements, got ",
                 host.size());
    upload(host.data(), host.size());
  }
  // The first n elements.
  void upload(const T* host, size_t n) {
    SGDLAB_CHECK(n <= count_, "an upload of at most the buffer's ", count_, " elements, got ", n);
    if (n) backend_->upload(ptr_, host, n * sizeof(T));
  }
  std::vector<T> download() const {
    std::vector<T> host(count_);
    download(host.data(), count_);
    return host;
  }
  // The first n elements into host[0, n).
  void download(T* host, size_t n) const {
    SGDLAB_CHECK(n <= count_, "a download of at most the buffer's ", count_, " elements, got ", n);
    if (n) backend_->download(host, ptr_, n * sizeof(T));
  }
  void zero() {
    if (count_) backend_->fill_zero(ptr_, bytes());
  }

 private:
  void reset() noexcept {
    if (ptr_) backend_->deallocate(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }
  Backend* backend_ = nullptr;
  size_t count_ = 0;
  T* ptr_ = nullptr;
};

}  // namespace sgdlab
