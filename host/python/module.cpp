// The extension module sgdlab._sgdlab: the engine's data sets, packs and predictions for
// the pure-Python package beside it (sgdlab/__init__.py, sgdlab/optuna.py). sgdlab's
// errors become Python's: a user's mistake (InputError) ValueError with its one-line
// message, memory that ran out MemoryError, anything else RuntimeError.
#include <pybind11/pybind11.h>

#include "data.hpp"
#include "pack.hpp"
#include "predict.hpp"
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_sgdlab, m) {
  m.doc() = "sgdlab's engine for Python; use the sgdlab package, not this module.";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sgdlab::OutOfMemory& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const sgdlab::InputError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sgdlab::Error& e) {
      const std::string where =
          std::string(e.what()) + " (" + e.file() + ":" + std::to_string(e.line()) + ")";
      PyErr_SetString(PyExc_RuntimeError, where.c_str());
    }
  });
  m.attr("__version__") = sgdlab::build_version();
  m.def("_cuda_available", [] {
    std::string why;
    const bool ok = sgdlab::cuda_available(&why);
    return py::make_tuple(ok, why);
  });
  sgdlab::python::register_data(m);
  sgdlab::python::register_pack(m);
  sgdlab::python::register_predict(m);
}
