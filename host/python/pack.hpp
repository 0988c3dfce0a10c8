#pragma once
// sgdlab._Pack: T lanes of one model and batch size training together (engine/trainer.hpp),
// epoch by epoch, for the Python Pack (sgdlab/__init__.py). Private to host/python.
#include <pybind11/pybind11.h>

namespace sgdlab::python {

void register_pack(pybind11::module_& m);

}  // namespace sgdlab::python
