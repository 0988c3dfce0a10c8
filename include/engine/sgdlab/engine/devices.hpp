#pragma once
// Choosing and creating backends by device name or kind.
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>

#include "sgdlab/core/backend.hpp"

namespace sgdlab {

// "cpu", "cuda" or "auto" (CUDA when a GPU is usable; else the CPU, saying so on
// `note`). Throws InputError for another name or for "cuda" without a usable GPU.
std::unique_ptr<Backend> make_backend(const std::string& device, std::ostream* note,
                                      const BackendOptions& options = {});

using BackendFactory = std::function<std::unique_ptr<Backend>()>;

// New backends of one device kind: one per pack, so each has its own stream and handles.
BackendFactory backends_of(Device device, const BackendOptions& options = {});

}  // namespace sgdlab
