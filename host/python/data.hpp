#pragma once
// A data set held for Python: the splits training reads, shared by every Pack made
// from it. Private to host/python.
#include <pybind11/pybind11.h>

#include <memory>

#include "sgdlab/engine/data.hpp"

namespace sgdlab::python {

struct Data {
  std::shared_ptr<const UspsData> data;
};

void register_data(pybind11::module_& m);

}  // namespace sgdlab::python
