// cuBLASLt is told the alignment each strided-batched operand keeps in every lane
// (cuda/lane_alignment.hpp). Its heuristic would otherwise assume 256 bytes.
#include <gtest/gtest.h>

#include "cuda/lane_alignment.hpp"
#include "sgdlab/engine/model.hpp"

namespace sgdlab::test {
namespace {

TEST(LaneAlignment, LargestPowerOfTwoThatEveryLaneKeeps) {
  EXPECT_EQ(kOperandBaseAlignBytes, 64u);
  EXPECT_EQ(lane_alignment(64, 0), 64u);     // one lane: the base's
  EXPECT_EQ(lane_alignment(64, 1024), 64u);  // the CNN's dense input: 4 KiB apart
  EXPECT_EQ(lane_alignment(256, 1024), 256u);
  EXPECT_EQ(lane_alignment(64, 10), 8u);    // ten classes: lanes 40 bytes apart
  EXPECT_EQ(lane_alignment(64, 144), 64u);  // the LCNN's dense input: 576 bytes
  EXPECT_EQ(lane_alignment(64, 3), 4u);     // an odd stride: single floats
  EXPECT_EQ(lane_alignment(512, 4096), 256u);
}

TEST(LaneAlignment, PointerAlignment) {
  alignas(256) static float block[128];
  EXPECT_EQ(pointer_alignment(block), 256u);
  EXPECT_EQ(pointer_alignment(block + 16), 64u);
  EXPECT_EQ(pointer_alignment(block + 1), 4u);
  EXPECT_EQ(pointer_alignment(block + 2), 8u);
}

// Every parameter slice of every preset starts on the 64 bytes the operands are planned
// with, for any lane count.
TEST(LaneAlignment, ParameterSlicesStartOn64Bytes) {
  for (const char* m : {"mlp", "cnn", "lcnn"})
    for (int T : {1, 3, 7, 32}) {
      const NetworkPlan plan(model_preset(m), T);
      for (const auto& s : plan.raw_slices())
        EXPECT_EQ(s.offset * sizeof(float) % kOperandBaseAlignBytes, 0u) << m << " T=" << T;
    }
}

}  // namespace
}  // namespace sgdlab::test
