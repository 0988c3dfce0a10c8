#include "convert.hpp"

#include "sgdlab/engine/hyperparameters.hpp"

namespace sgdlab::python {

nlohmann::json settings_json(const py::handle& settings, const std::string& where) {
  if (!py::isinstance<py::dict>(settings))
    throw py::type_error(where + ": expected a dict of settings, got " +
                         std::string(py::str(py::type::of(settings).attr("__name__"))));
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [k, v] : py::reinterpret_borrow<py::dict>(settings)) {
    if (!py::isinstance<py::str>(k))
      throw py::type_error(where + ": setting names are text, got " + std::string(py::repr(k)));
    const std::string key = k.cast<std::string>();
    // NumPy scalars (np.float64, np.int64, np.bool_) as the Python values they hold.
    const py::object value = py::hasattr(v, "item") && !py::isinstance<py::str>(v)
                                 ? py::reinterpret_borrow<py::object>(v).attr("item")()
                                 : py::reinterpret_borrow<py::object>(v);
    // Each setting's Python type: numbers for the table's hyperparameters (a bool only
    // for nesterov), an int for the seed, text for the rest; anything else is a type error.
    const bool is_bool = py::isinstance<py::bool_>(value);
    const bool is_int = py::isinstance<py::int_>(value) && !is_bool;
    const bool is_number = is_int || py::isinstance<py::float_>(value);
    const bool is_text = py::isinstance<py::str>(value);
    const char* expected = nullptr;
    if (key == "nesterov" && !is_bool && !is_number)
      expected = "True or False";
    else if (key != "nesterov" && find_hyperparameter(key) && !is_number)
      expected = "a number";
    else if (key == "seed" && !is_int)
      expected = "an integer";
    else if ((key == "schedule" || key == "init" || key == "augment") && !is_text)
      expected = "text";
    if (expected)
      throw py::type_error(where + ": " + key + ": expected " + expected + ", got " +
                           std::string(py::repr(value)));
    if (py::isinstance<py::bool_>(value))
      out[key] = value.cast<bool>();
    else if (py::isinstance<py::int_>(value)) {
      // Seeds go up to 2^64 - 1; a negative integer stays signed for the message.
      try {
        if (value.cast<py::int_>() < py::int_(0))
          out[key] = value.cast<int64_t>();
        else
          out[key] = value.cast<uint64_t>();
      } catch (const py::cast_error&) {
        throw py::value_error(where + ": " + key + ": " + std::string(py::repr(value)) +
                              " is out of range");
      }
    } else if (py::isinstance<py::float_>(value))
      out[key] = value.cast<double>();
    else if (py::isinstance<py::str>(value))
      out[key] = value.cast<std::string>();
    else
      throw py::type_error(where + ": " + key + ": expected a number, a bool or text, got " +
                           std::string(py::str(py::type::of(value).attr("__name__"))));
  }
  return out;
}

bool nhwc_layout(const std::string& layout) {
  if (layout != "nchw" && layout != "nhwc")
    throw py::value_error("layout: expected 'nchw' or 'nhwc', got '" + layout + "'");
  return layout == "nhwc";
}

ArrayView array_view(const py::handle& obj, const std::string& name, py::object& keep) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  py::array a = py::reinterpret_borrow<py::array>(obj);
  if (!(a.flags() & py::array::c_style)) {
    a = py::array::ensure(a, py::array::c_style);
    if (!a) throw py::error_already_set();  // the copy failed (memory): its error is set
  }
  keep = a;
  ArrayView v;
  // NumPy's code for the dtype: "<f4", "|u1", "<i8" (">" on big-endian data, refused).
  v.dtype = py::str(a.dtype().attr("str"));
  for (py::ssize_t d = 0; d < a.ndim(); ++d) v.shape.push_back(uint64_t(a.shape(d)));
  v.data = std::string_view(static_cast<const char*>(a.data()), size_t(a.nbytes()));
  return v;
}

}  // namespace sgdlab::python
