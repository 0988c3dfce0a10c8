// sgdlab.load_data and sgdlab.Data: a data set from files (every --data format) or from
// NumPy arrays, split and scaled as the CLI does it (engine/datasets.hpp).
#include "data.hpp"

#include "convert.hpp"
#include "sgdlab/engine/datasets.hpp"

namespace sgdlab::python {

namespace {

DataOptions split_options(double val_fraction, uint64_t split_seed, const std::string& normalize) {
  if (!(val_fraction > 0 && val_fraction < 1))
    throw py::value_error("val_fraction: expected a fraction in (0, 1), got " +
                          std::to_string(val_fraction));
  if (normalize != "none" && normalize != "standard")
    throw py::value_error("normalize: expected 'none' or 'standard', got '" + normalize + "'");
  DataOptions o;
  o.val_fraction = val_fraction;
  o.split_seed = split_seed;
  o.standard = normalize == "standard";
  o.allow_download = false;
  return o;
}

Data load_data(const std::string& path, const std::string& format, const std::string& layout,
               const std::string& normalize, double val_fraction, uint64_t split_seed,
               bool download) {
  DataOptions o = split_options(val_fraction, split_seed, normalize);
  o.dir = path;
  o.format = format;
  o.nhwc = nhwc_layout(layout);
  o.allow_download = download;
  Data d;
  {
    py::gil_scoped_release unlocked;
    d.data = std::make_shared<UspsData>(load_dataset(o));
  }
  return d;
}

Data data_from_arrays(const py::handle& x_train, const py::handle& y_train,
                      const py::handle& x_test, const py::handle& y_test, const std::string& layout,
                      const std::string& normalize, double val_fraction, uint64_t split_seed) {
  const DataOptions o = split_options(val_fraction, split_seed, normalize);
  const bool nhwc = nhwc_layout(layout);
  py::object keep[4];
  const ArrayView xt = array_view(x_train, "x_train", keep[0]);
  const ArrayView yt = array_view(y_train, "y_train", keep[1]);
  const ArrayView xs = array_view(x_test, "x_test", keep[2]);
  const ArrayView ys = array_view(y_test, "y_test", keep[3]);
  Data d;
  {
    py::gil_scoped_release unlocked;
    const Dataset train = dataset_from_arrays(xt, yt, nhwc, "x_train", "y_train");
    Dataset test = dataset_from_arrays(xs, ys, nhwc, "x_test", "y_test");
    d.data = std::make_shared<UspsData>(
        dataset_from_splits(train, std::move(test), o, "NumPy arrays", "numpy"));
  }
  return d;
}

py::tuple image_shape(const Data& d) {
  const Shape3& s = d.data->train.image;
  return py::make_tuple(s.C, s.H, s.W);
}

}  // namespace

void register_data(py::module_& m) {
  py::class_<Data>(m, "_Data")
      .def_property_readonly("train_size", [](const Data& d) { return d.data->train.size(); })
      .def_property_readonly("val_size", [](const Data& d) { return d.data->val.size(); })
      .def_property_readonly("test_size", [](const Data& d) { return d.data->test.size(); })
      .def_property_readonly("image_shape", &image_shape)
      .def_property_readonly("source", [](const Data& d) { return d.data->source; })
      .def_property_readonly("format", [](const Data& d) { return d.data->format; });
  m.def("_load_data", &load_data, py::arg("path"), py::arg("format"), py::arg("layout"),
        py::arg("normalize"), py::arg("val_fraction"), py::arg("split_seed"), py::arg("download"));
  m.def("_data_from_arrays", &data_from_arrays, py::arg("x_train"), py::arg("y_train"),
        py::arg("x_test"), py::arg("y_test"), py::arg("layout"), py::arg("normalize"),
        py::arg("val_fraction"), py::arg("split_seed"));
}

}  // namespace sgdlab::python
