// Built when the CUDA toolkit or cuDNN is missing: the CUDA backend reports that it
// was not compiled in.
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/error.hpp"

namespace sgdlab {

bool cuda_compiled() {
  return false;
}

bool cuda_available(std::string* why) {
  if (why)
    *why = "this build of sgdlab has no CUDA support (no CUDA toolkit or cuDNN at build time)";
  return false;
}

std::unique_ptr<Backend> make_cuda_backend(const BackendOptions&) {
  SGDLAB_INPUT_ERROR(
      "--device cuda: this build of sgdlab has no CUDA support; rebuild with the "
      "CUDA toolkit and cuDNN, or use --device cpu");
}

}  // namespace sgdlab
