// Owners of CUDA handles are move-only: a copy would release its handle twice. Checked
// at compile time; built where the CUDA backend is.
#include <gtest/gtest.h>

#include <type_traits>

#include "cuda/cuda_graph.hpp"
#include "cuda/cudnn_conv.hpp"
#include "cuda/device_arena.hpp"

namespace sgdlab::test {
namespace {

template <class T>
constexpr bool move_only = !std::is_copy_constructible_v<T> && !std::is_copy_assignable_v<T> &&
                           std::is_nothrow_move_constructible_v<T>;

static_assert(move_only<CudaGraph>);
static_assert(std::is_nothrow_move_assignable_v<CudaGraph>);
static_assert(move_only<DeviceArena>);
static_assert(move_only<TempDeviceBuffer>);
static_assert(move_only<TensorDesc> && move_only<FilterDesc> && move_only<ConvDesc>);

// A moved-from graph owns nothing: its destructor releases nothing, and replaying it is
// an error rather than a second launch of a freed graph.
TEST(CudaOwners, AMovedFromGraphOwnsNothing) {
  CudaGraph empty(nullptr, nullptr);
  EXPECT_TRUE(empty.empty());
  CudaGraph moved(std::move(empty));
  EXPECT_TRUE(moved.empty());
  EXPECT_THROW(moved.replay(), Error);
}

}  // namespace
}  // namespace sgdlab::test
