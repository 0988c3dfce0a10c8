#pragma once
// What the CUDA tests share: uploads, the CPU-relative error bound, and a fixture with
// both backends that skips where no GPU is usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/buffer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab::test {

template <class T>
inline Buffer<T> up(Backend& be, const std::vector<T>& v) {
  Buffer<T> b(be, v.size());
  b.upload(v);
  return b;
}

// ||gpu - cpu|| / ||cpu|| over every output of an op.
inline void expect_rel(const std::vector<std::vector<float>>& gpu,
                       const std::vector<std::vector<float>>& cpu, double tol = 1e-5) {
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t k = 0; k < cpu.size(); ++k) {
    ASSERT_EQ(gpu[k].size(), cpu[k].size()) << "output " << k;
    double num = 0, den = 0;
    for (size_t i = 0; i < cpu[k].size(); ++i) {
      ASSERT_TRUE(std::isfinite(gpu[k][i])) << "output " << k << " element " << i;
      num += (double(gpu[k][i]) - cpu[k][i]) * (double(gpu[k][i]) - cpu[k][i]);
      den += double(cpu[k][i]) * cpu[k][i];
    }
    EXPECT_LE(std::sqrt(num), tol * std::max(std::sqrt(den), 1e-30)) << "output " << k;
  }
}

using OpRun = std::function<std::vector<std::vector<float>>(Backend&)>;

class CudaParity : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    if (!cuda_available(&why)) GTEST_SKIP() << "no usable GPU: " << why;
    cpu_ = make_cpu_backend();
    gpu_ = make_cuda_backend();
  }
  void compare(const OpRun& run, double tol = 1e-5) { expect_rel(run(*gpu_), run(*cpu_), tol); }
  std::unique_ptr<Backend> cpu_, gpu_;
};

}  // namespace sgdlab::test
