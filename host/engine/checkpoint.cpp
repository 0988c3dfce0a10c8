#include "sgdlab/engine/checkpoint.hpp"

#include <climits>
#include <cstdint>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"
#include "sgdlab/engine/json_text.hpp"
#include "sgdlab/engine/layer_type.hpp"
#include "sgdlab/engine/model_file.hpp"
#include "sgdlab/engine/optimizer.hpp"

namespace sgdlab {
namespace {

// sgdlab keeps a dense weight as [in, out] (x W); PyTorch as [out, in] (W x).
std::vector<float> transposed(const float* w, size_t rows, size_t cols) {
  std::vector<float> t(rows * cols);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < cols; ++c) t[c * rows + r] = w[r * cols + c];
  return t;
}

std::string shape_text(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

const std::string& metadata(const SafetensorsFile& f, const std::string& key,
                            const std::string& source) {
  const auto it = f.metadata.find(key);
  if (it == f.metadata.end()) SGDLAB_INPUT_ERROR(source, ": no \"", key, "\" in __metadata__");
  return it->second;
}

nlohmann::json metadata_json(const SafetensorsFile& f, const std::string& key,
                             const std::string& source) {
  return parse_json_text(metadata(f, key, source), source + ": __metadata__ \"" + key + "\"");
}

// A count from 0 to `max` (an epoch fits an int, a step count needs 64 bits).
int64_t metadata_count(const SafetensorsFile& f, const std::string& key, const std::string& source,
                       int64_t max) {
  const std::string& v = metadata(f, key, source);
  try {
    size_t used = 0;
    const long long n = std::stoll(v, &used);
    if (used == v.size() && n >= 0 && n <= max) return n;
  } catch (const std::exception&) {
  }
  SGDLAB_INPUT_ERROR(source, ": __metadata__ \"", key, "\" is not a count: ", v);
}

}  // namespace

std::vector<Tensor> model_tensors(const NetworkPlan& single, const std::vector<float>& params) {
  SGDLAB_CHECK(single.lanes() == 1 && params.size() == single.param_count(), "one lane's buffer");
  std::vector<Tensor> out;
  for (const LayerPlan& l : single.layers()) {
    const std::vector<LayerTensor> tensors = layer_type(l.spec.kind).tensors(l);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const LayerTensor& t = tensors[i];
      const ParamSlice& s = single.slices()[l.tensor_slices[i]].slice;
      const float* p = params.data() + s.offset;
      out.push_back({l.label + "." + t.suffix, t.torch_shape,
                     t.transposed
                         ? transposed(p, size_t(t.torch_shape[1]), size_t(t.torch_shape[0]))
                         : std::vector<float>(p, p + s.count)});
    }
  }
  return out;
}

std::vector<float> params_from_tensors(const NetworkPlan& single, const SafetensorsFile& file,
                                       const std::string& source) {
  std::vector<float> params(single.param_count(), 0.0f);
  for (const LayerPlan& l : single.layers()) {
    const std::vector<LayerTensor> tensors = layer_type(l.spec.kind).tensors(l);
    for (size_t i = 0; i < tensors.size(); ++i) {
      const LayerTensor& want = tensors[i];
      const std::string name = l.label + "." + want.suffix;
      const Tensor* t = file.find(name);
      if (!t) SGDLAB_INPUT_ERROR(source, ": no tensor ", name, " (the model has ", l.label, ")");
      if (t->shape != want.torch_shape)
        SGDLAB_INPUT_ERROR(source, ": ", name, " has shape ", shape_text(t->shape),
                           " but the model needs ", shape_text(want.torch_shape));
      const ParamSlice& s = single.slices()[l.tensor_slices[i]].slice;
      const std::vector<float> values =
          want.transposed
              ? transposed(t->data.data(), size_t(want.torch_shape[0]), size_t(want.torch_shape[1]))
              : t->data;
      std::copy(values.begin(), values.end(), params.begin() + std::ptrdiff_t(s.offset));
    }
  }
  return params;
}

nlohmann::json layer_shapes(const NetworkPlan& plan) {
  const auto shape = [](const Shape3& s) { return nlohmann::json::array({s.C, s.H, s.W}); };
  nlohmann::json out = nlohmann::json::array();
  for (const LayerPlan& l : plan.layers())
    out.push_back({{"label", l.label}, {"in", shape(l.in)}, {"out", shape(l.out)}});
  return out;
}

void save_model_checkpoint(const std::string& path, const ModelCheckpoint& c) {
  const NetworkPlan single(c.model, 1);
  write_safetensors(path, model_tensors(single, c.params),
                    {{"format", "sgdlab-model"},
                     {"sgdlab_version", build_version()},
                     {"model", model_to_json(c.model).dump()},
                     {"layers", layer_shapes(single).dump()},
                     {"hyperparameters", c.hyperparameters.dump()},
                     {"epoch", std::to_string(c.epoch)},
                     {"scaling", c.scaling.to_json().dump()},
                     {"data_format", c.data_format}});
}

ModelCheckpoint load_model_checkpoint(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  if (metadata(f, "format", path) != "sgdlab-model")
    SGDLAB_INPUT_ERROR(path, ": not an sgdlab model checkpoint (format \"",
                       metadata(f, "format", path), "\")");
  ModelCheckpoint c;
  c.model = model_from_json(metadata_json(f, "model", path), path + ": model");
  c.params = params_from_tensors(NetworkPlan(c.model, 1), f, path);
  c.hyperparameters = metadata_json(f, "hyperparameters", path);
  c.epoch = int(metadata_count(f, "epoch", path, INT_MAX));
  c.scaling = Scaling::from_json(metadata_json(f, "scaling", path), path + ": scaling");
  c.data_format = metadata(f, "data_format", path);
  return c;
}

void save_resume_checkpoint(const std::string& path, const ResumeCheckpoint& c) {
  nlohmann::json lanes = nlohmann::json::array();
  for (LaneState s : c.state.lanes) lanes.push_back(int(s));
  const auto n = [](const std::vector<float>& v) {
    return std::vector<int64_t>{int64_t(v.size())};
  };
  std::vector<Tensor> tensors = {{"params", n(c.state.params), c.state.params}};
  for (const auto& slot : c.state.slots) tensors.push_back({slot.name, n(slot.data), slot.data});
  if (!c.state.average.empty()) tensors.push_back({"ema", n(c.state.average), c.state.average});
  write_safetensors(path, tensors,
                    {{"format", "sgdlab-resume"},
                     {"optimizer", c.state.optimizer},
                     {"sgdlab_version", build_version()},
                     {"epoch", std::to_string(c.state.epoch)},
                     {"global_step", std::to_string(c.state.global_step)},
                     {"lane_state", lanes.dump()},
                     {"config", c.config.dump()},
                     {"metrics", c.metrics.dump()}});
}

ResumeCheckpoint load_resume_checkpoint(const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  if (metadata(f, "format", path) != "sgdlab-resume")
    SGDLAB_INPUT_ERROR(path, ": not an sgdlab resume checkpoint");
  ResumeCheckpoint c;
  const Tensor* params = f.find("params");
  if (!params) SGDLAB_INPUT_ERROR(path, ": no params tensor");
  c.state.params = params->data;
  // Checkpoints from before optimizers had names are SGD's.
  const Optimizer& optim =
      optimizer_named(f.metadata.count("optimizer") ? metadata(f, "optimizer", path) : "sgd", path);
  c.state.optimizer = optim.name();
  for (const std::string& name : optim.slots()) {
    const Tensor* slot = f.find(name);
    if (!slot)
      SGDLAB_INPUT_ERROR(path, ": no ", name, " tensor (the ", optim.name(), " optimizer's state)");
    c.state.slots.push_back({name, slot->data});
  }
  if (const Tensor* average = f.find("ema")) c.state.average = average->data;
  c.state.epoch = int(metadata_count(f, "epoch", path, INT_MAX));
  c.state.global_step = metadata_count(f, "global_step", path, INT64_MAX);
  const nlohmann::json lanes = metadata_json(f, "lane_state", path);
  if (!lanes.is_array()) SGDLAB_INPUT_ERROR(path, ": lane_state is not a list");
  for (const auto& s : lanes) {
    // As int64: get<int>() would wrap 2^32 + 1 to an accepted 1.
    if (!s.is_number_integer() || s.get<int64_t>() < 0 || s.get<int64_t>() > 2)
      SGDLAB_INPUT_ERROR(path, ": lane_state ", s.dump(), " is not 0, 1 or 2");
    c.state.lanes.push_back(LaneState(s.get<int64_t>()));
  }
  c.config = metadata_json(f, "config", path);
  c.metrics = metadata_json(f, "metrics", path);
  return c;
}

}  // namespace sgdlab
