// The cuBLASLt epilogue check compares only what the two GEMM paths write: the padding
// between its slice-aligned outputs holds whatever the allocator left (issue #20).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cuda/epilogue_check.hpp"

namespace sgdlab::test {
namespace {

TEST(EpilogueCheck, OperandsStartOnSliceBoundariesAndOutputsAreTheirOwnFloats) {
  const EpilogueCheckLayout l = epilogue_check_layout(DenseDims{5, 3, 7, 10});
  EXPECT_EQ(l.nx, 112u);  // 5*3*7 = 105
  EXPECT_EQ(l.nw, 224u);  // 3*7*10 = 210
  EXPECT_EQ(l.nb, 32u);   // 3*10 = 30
  EXPECT_EQ(l.ny, 160u);  // 5*3*10 = 150
  EXPECT_EQ(l.inputs(), 112u + 224u + 32u + 160u);
  EXPECT_EQ(l.outputs(), 160u + 224u + 32u);
  const auto w = l.written();
  EXPECT_EQ(w[0].offset, 0u);
  EXPECT_EQ(w[0].length, 150u);
  EXPECT_EQ(w[1].offset, 160u);
  EXPECT_EQ(w[1].length, 210u);
  EXPECT_EQ(w[2].offset, 384u);
  EXPECT_EQ(w[2].length, 30u);
  for (size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(w[k].offset % kSliceAlignFloats, 0u);
    EXPECT_LE(w[k].offset + w[k].length, k + 1 < 3 ? w[k + 1].offset : l.outputs());
  }
}

TEST(EpilogueCheck, StaleFloatsInThePaddingDoNotCount) {
  const EpilogueCheckLayout l = epilogue_check_layout(DenseDims{3, 2, 5, 9});
  std::vector<float> want(l.outputs()), got;
  for (size_t i = 0; i < want.size(); ++i) want[i] = std::sin(double(i));
  got = want;
  std::vector<bool> written(l.outputs(), false);
  for (const FloatRange& r : l.written())
    for (size_t i = r.offset; i < r.offset + r.length; ++i) written[i] = true;
  size_t padding = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!written[i]) {  // what cudaMallocAsync may leave: anything, NaN included
      got[i] = std::numeric_limits<float>::quiet_NaN();
      ++padding;
    }
  ASSERT_GT(padding, 0u);
  EXPECT_EQ(written_relative_error(l, got.data(), want.data()), 0.0);
  // A written float that differs does count, and a NaN there is a huge error.
  got[l.written()[1].offset + 3] += 0.5f;
  EXPECT_GT(written_relative_error(l, got.data(), want.data()), 1e-3);
  got[l.written()[2].offset] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_GT(written_relative_error(l, got.data(), want.data()), 1e10);
}

}  // namespace
}  // namespace sgdlab::test
