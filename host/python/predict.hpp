#pragma once
// sgdlab._predict (predict.cpp). Private to host/python.
#include <pybind11/pybind11.h>

namespace sgdlab::python {

void register_predict(pybind11::module_& m);

}  // namespace sgdlab::python
