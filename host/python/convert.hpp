#pragma once
// Python values to and from what the engine takes: settings as JSON, NumPy arrays as
// ArrayViews (no copy), results as NumPy arrays. Private to host/python.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sgdlab/engine/datasets.hpp"

namespace sgdlab::python {

namespace py = pybind11;

// A dict of settings (str keys; bool, int, float or str values, NumPy scalars included)
// as JSON; anything else raises TypeError naming `where` and the key.
nlohmann::json settings_json(const py::handle& settings, const std::string& where);

// A NumPy array as the engine reads it: C-contiguous arrays are viewed where they are;
// others are made contiguous once (`keep` holds that copy while the view is used).
ArrayView array_view(const py::handle& obj, const std::string& name, py::object& keep);

// "nchw" or "nhwc" (images with channels), as --layout takes it: whether it is nhwc.
bool nhwc_layout(const std::string& layout);

// A vector as a new 1-D NumPy array.
template <class T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> a(py::ssize_t(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace sgdlab::python
