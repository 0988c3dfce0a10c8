#pragma once
// Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11).
// A counter-based generator: the same (key, counter) gives the same numbers on the CPU
// and on the GPU, which is what makes dropout masks, initial weights and shuffles
// identical across backends and reproducible from a lane's seed.
#include <cstdint>

#include "sgdlab/core/host_device.hpp"

namespace sgdlab {

struct Philox4 {
  uint32_t v[4];
};

SGDLAB_HD Philox4 philox4x32_10(Philox4 ctr, uint32_t k0, uint32_t k1) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kM0) * ctr.v[0];
    const uint64_t p1 = uint64_t(kM1) * ctr.v[2];
    const uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    const uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    ctr = Philox4{{hi1 ^ ctr.v[1] ^ k0, lo1, hi0 ^ ctr.v[3] ^ k1, lo0}};
    k0 += kW0;
    k1 += kW1;
  }
  return ctr;
}

// Word i (0..3) of a result. A select rather than v[i]: a runtime index into the
// array would put it in local memory on the GPU.
SGDLAB_HD uint32_t philox_word(const Philox4& r, uint32_t i) {
  return i == 0 ? r.v[0] : i == 1 ? r.v[1] : i == 2 ? r.v[2] : r.v[3];
}

// Stream tags in the last counter word keep the generator's uses apart.
enum : uint32_t {
  kPhiloxTagInit = 0x494E4954u,     // "INIT": initial weights
  kPhiloxTagShuffle = 0x5348464Cu,  // "SHFL": per-epoch permutation keys
  kPhiloxTagSplit = 0x53504C54u,    // "SPLT": the validation split
};

// 24 random bits to a float in [0, 1): exact in float, identical on both backends.
SGDLAB_HD float philox_unit_float(uint32_t bits) {
  return float(bits >> 8) * (1.0f / 16777216.0f);
}

// The streams: one body each for both backends, so that a lane's draws are the same
// numbers on the CPU and on the GPU.

// Dropout of element `index` of a lane's [B, F] slab at a global step: the Philox call
// that serves it (keyed by the lane's seed; four consecutive indices share one call,
// the layer and the step's two words fill the rest of the counter), and its word.
SGDLAB_HD Philox4 dropout_block(uint64_t seed, uint64_t step, uint32_t layer, uint64_t index) {
  return philox4x32_10(Philox4{{uint32_t(index >> 2), layer, uint32_t(step), uint32_t(step >> 32)}},
                       uint32_t(seed), uint32_t(seed >> 32));
}
SGDLAB_HD uint32_t dropout_bits(uint64_t seed, uint64_t step, uint32_t layer, uint64_t index) {
  return philox_word(dropout_block(seed, step, layer, index), uint32_t(index & 3));
}

// The sort key of sample i in a lane's permutation for an epoch; ties go by index.
SGDLAB_HD uint32_t shuffle_key(uint64_t seed, uint32_t epoch, uint32_t i) {
  return philox_word(philox4x32_10(Philox4{{i >> 2, epoch, 0u, kPhiloxTagShuffle}}, uint32_t(seed),
                                   uint32_t(seed >> 32)),
                     i & 3);
}

}  // namespace sgdlab
