// sgdlab.predict: a saved network's class probabilities for NumPy images, scaled as it
// was trained, optionally with test-time shifts (engine/tta.hpp), as `sgdlab predict`.
#include "predict.hpp"

#include <vector>

#include "convert.hpp"
#include "sgdlab/engine/checkpoint.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/tta.hpp"

namespace sgdlab::python {

namespace {

py::array_t<float> predict(const std::string& checkpoint, const py::handle& images,
                           const std::string& layout, const std::string& device, int tta_shift) {
  const bool nhwc = nhwc_layout(layout);
  py::object keep;
  const ArrayView x = array_view(images, "x", keep);
  if (x.shape.empty()) throw py::value_error("x: expected images [N, H, W] or [N, C, H, W]");
  // Labels are not needed to predict: a zero for each image keeps the reader's checks.
  const std::vector<int32_t> zeros(x.shape[0], 0);
  const ArrayView y{"<i4",
                    {x.shape[0]},
                    std::string_view(reinterpret_cast<const char*>(zeros.data()),
                                     zeros.size() * sizeof(int32_t))};
  std::vector<float> probs;
  int classes = 0;
  {
    py::gil_scoped_release unlocked;
    const ModelCheckpoint c = load_model_checkpoint(checkpoint);
    Dataset d = dataset_from_arrays(x, y, nhwc, "x", "labels");
    apply_scaling(d, c.scaling);
    // tta_probabilities refuses a negative shift or one that moves the images out of view.
    auto backend = make_backend(device, nullptr);
    probs = tta_probabilities(*backend, c.model, c.params, d, tta_shift);
    classes = c.model.classes;
  }
  py::array_t<float> out({py::ssize_t(probs.size() / size_t(classes)), py::ssize_t(classes)});
  std::copy(probs.begin(), probs.end(), out.mutable_data());
  return out;
}

}  // namespace

void register_predict(py::module_& m) {
  m.def("_predict", &predict, py::arg("checkpoint"), py::arg("x"), py::arg("layout"),
        py::arg("device"), py::arg("tta_shift"));
}

}  // namespace sgdlab::python
