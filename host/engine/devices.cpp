#include <ostream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/devices.hpp"

namespace sgdlab {

std::unique_ptr<Backend> make_backend(const std::string& device, std::ostream* note,
                                      const BackendOptions& options) {
  if (device == "cpu") return make_cpu_backend();
  if (device != "cuda" && device != "auto")
    SGDLAB_INPUT_ERROR("--device: expected cpu, cuda or auto, got '", device, "'");
  std::string why;
  if (cuda_available(&why)) return make_cuda_backend(options);
  if (device == "cuda") SGDLAB_INPUT_ERROR("--device cuda: no usable GPU: ", why);
  if (note) *note << "sgdlab: no usable GPU (" << why << "); running on the CPU" << std::endl;
  return make_cpu_backend();
}

BackendFactory backends_of(Device device, const BackendOptions& options) {
  return [device, options]() -> std::unique_ptr<Backend> {
    return device == Device::Cuda ? make_cuda_backend(options) : make_cpu_backend();
  };
}

}  // namespace sgdlab
