// The index maps of the lane-GEMM convolution kernel (kernels/cuda/conv_gemm.hpp), run as
// a plain host loop, against the CPU backend's convolution: the part of the CUDA kernel
// that a machine without a GPU can check. The tiled kernel itself is compared with the
// CPU in cuda_parity_test.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "cuda/conv_gemm.hpp"
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/buffer.hpp"
#include "tests/test_util.hpp"

namespace sgdlab {
namespace {

void expect_close(const std::vector<float>& got, const std::vector<float>& want, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  EXPECT_LE(std::sqrt(num), 1e-5 * std::sqrt(den)) << what;
}

class ConvGemmMaps : public ::testing::TestWithParam<ConvDims> {};

TEST_P(ConvGemmMaps, EqualTheCpuConvolutionInEveryDirection) {
  const ConvDims d = GetParam();
  const size_t nx = size_t(d.B) * d.T * d.Cin * d.H * d.W, nw = size_t(d.T) * d.Cout * d.patch(),
               nb = size_t(d.T) * d.Cout, ny = size_t(d.B) * d.T * d.Cout * d.L();
  const auto x = test::random_floats(nx, 1), w = test::random_floats(nw, 2),
             bias = test::random_floats(nb, 3), dy = test::random_floats(ny, 4);

  auto cpu = make_cpu_backend();
  Buffer<float> X(*cpu, nx), W(*cpu, nw), Bv(*cpu, nb), DY(*cpu, ny), Y(*cpu, ny), DX(*cpu, nx),
      DW(*cpu, nw), DB(*cpu, nb);
  X.upload(x);
  W.upload(w);
  Bv.upload(bias);
  DY.upload(dy);
  cpu->conv2d_forward(d, X.get(), W.get(), Bv.get(), Y.get());
  cpu->conv2d_backward(d, X.get(), W.get(), DY.get(), DX.get(), DW.get(), DB.get());

  // Sentinels: an element the maps never store would stay NaN and fail the comparison.
  std::vector<float> y(ny, NAN), dx(nx, NAN), dw(nw, NAN);
  conv_gemm::reference(conv_gemm::Forward{d, x.data(), w.data(), bias.data(), y.data()}, d.T);
  conv_gemm::reference(conv_gemm::BackwardData{d, w.data(), dy.data(), dx.data()}, d.T);
  conv_gemm::reference(conv_gemm::BackwardFilter{d, x.data(), dy.data(), dw.data()}, d.T);
  expect_close(y, Y.download(), "forward");
  expect_close(dx, DX.download(), "backward data");
  expect_close(dw, DW.download(), "backward filter");
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvGemmMaps,
                         ::testing::Values(ConvDims{3, 2, 1, 16, 16, 32, 3, 1, 1},  // CNN conv1
                                           ConvDims{3, 2, 32, 8, 8, 64, 3, 1, 1},   // CNN conv2
                                           ConvDims{2, 3, 3, 9, 7, 4, 3, 2, 1},     // odd, strided
                                           ConvDims{2, 2, 2, 7, 8, 3, 2, 2, 0},     // even kernel
                                           ConvDims{1, 1, 2, 5, 5, 3, 5, 1, 2}));   // 5x5, pad 2

}  // namespace
}  // namespace sgdlab
