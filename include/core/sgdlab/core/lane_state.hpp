#pragma once
// What each lane of a pack is doing, one value per lane in backend memory, shared by the
// host and both backends. Only a Training lane takes updates; softmax cross-entropy
// marks a lane Diverged when its loss is not finite, and the host marks one Pruned.
#include <cstdint>

namespace sgdlab {

enum class LaneState : int32_t { Training = 0, Diverged = 1, Pruned = 2 };

}  // namespace sgdlab
