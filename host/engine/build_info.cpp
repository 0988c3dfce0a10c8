#include "sgdlab/engine/build_info.hpp"

namespace sgdlab {
const char* build_version() {
  return SGDLAB_VERSION;
}
const char* build_source_dir() {
  return SGDLAB_SOURCE_DIR;
}
}  // namespace sgdlab
