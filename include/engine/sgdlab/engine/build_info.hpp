#pragma once
// What the build recorded: the version and the source tree (for data/usps and tools/).
namespace sgdlab {
const char* build_version();
const char* build_source_dir();
}  // namespace sgdlab
