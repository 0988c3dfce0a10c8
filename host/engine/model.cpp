#include "sgdlab/engine/model.hpp"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "sgdlab/core/error.hpp"
#include "sgdlab/core/philox.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab {
namespace {

LayerSpec dense(int units) {
  return {LayerKind::Dense, units};
}
LayerSpec conv(int ch, int k, int stride, int pad) {
  return {LayerKind::Conv2d, ch, k, stride, pad};
}
LayerSpec local(int ch, int k, int stride) {
  return {LayerKind::Local2d, ch, k, stride, 0};
}
LayerSpec pool(int k) {
  return {LayerKind::MaxPool, 0, k, k, 0};
}
LayerSpec act(LayerKind k) {
  return {k};
}
LayerSpec dropout() {
  return {LayerKind::Dropout};
}

}  // namespace

std::vector<std::string> model_preset_names() {
  return {"mlp", "cnn", "lcnn"};
}

ModelSpec model_preset(const std::string& name) {
  using K = LayerKind;
  ModelSpec m;
  m.name = name;
  if (name == "mlp") {
    m.layers = {dense(128), act(K::Relu), dropout(),    dense(64), act(K::Sigmoid),
                dropout(),  dense(32),    act(K::Relu), dropout(), dense(10)};
    m.note =
        "the paper lists no MLP dropout layer although it says all models have one: "
        "sgdlab puts one after each hidden layer";
  } else if (name == "cnn") {
    m.layers = {conv(32, 3, 1, 1), act(K::Relu), pool(2),      conv(64, 3, 1, 1), act(K::Relu),
                pool(2),           dense(128),   act(K::Tanh), dropout(),         dense(10)};
    m.note = "as in the paper";
  } else if (name == "lcnn") {
    m.layers = {local(8, 3, 1), act(K::Relu), local(16, 3, 2), act(K::Relu), pool(2),
                dense(128),     act(K::Tanh), dropout(),       dense(10)};
    m.note =
        "the paper lists no LCNN dropout layer although it says all models have one: "
        "sgdlab puts one after the 128-unit dense layer";
  } else {
    SGDLAB_INPUT_ERROR("unknown model '", name, "': expected one of mlp, cnn, lcnn");
  }
  return m;
}

NetworkPlan::NetworkPlan(ModelSpec spec, int lanes) : spec_(std::move(spec)), lanes_(lanes) {
  SGDLAB_CHECK(lanes_ >= 1, "a pack has at least one lane, got ", lanes_);
  Shape3 shape = spec_.input;
  std::map<std::string, int> counts;
  uint32_t dropout_count = 0;
  for (const LayerSpec& ls : spec_.layers) {
    const LayerType& type = layer_type(ls.kind);
    LayerPlan lp;
    lp.spec = ls;
    lp.in = shape;
    lp.out = type.output(
        ls, shape,
        spec_.name + ": layer " + std::to_string(layers_.size() + 1) + " " + type.type());
    if (ls.kind == LayerKind::Dropout) lp.dropout_id = ++dropout_count;
    const std::vector<LayerTensor> tensors = type.tensors(lp);
    const std::string label = type.label();
    lp.label = tensors.empty() ? label : label + std::to_string(++counts[label]);
    if (!tensors.empty()) {
      lp.param_layer = int(param_layer_names_.size());
      param_layer_names_.push_back(lp.label);
    }
    for (const LayerTensor& t : tensors) lp.tensor_slices.push_back(add_slice(lp, t));
    layers_.push_back(lp);
    shape = lp.out;
  }
  SGDLAB_CHECK(!layers_.empty() && shape.size() == size_t(spec_.classes), "the last layer gives ",
               spec_.classes, " outputs");
}

// A tensor's slice for every lane, starting on the next aligned offset.
int NetworkPlan::add_slice(const LayerPlan& l, const LayerTensor& t) {
  SliceInfo s;
  s.name = l.label + "." + t.suffix;
  const int32_t flags = (t.decays ? 0 : kSliceIsBias) | (t.trained ? 0 : kSliceNotTrained);
  s.slice = ParamSlice{total_, t.count * lanes_, l.param_layer, flags};
  s.fan_in = t.fan_in;
  s.fan_out = t.fan_out;
  s.init = t.init == LayerTensor::Zero  ? SliceInfo::Zero
           : t.init == LayerTensor::One ? SliceInfo::One
                                        : SliceInfo::Drawn;
  slices_.push_back(s);
  total_ += (t.count * lanes_ + kSliceAlignFloats - 1) / kSliceAlignFloats * kSliceAlignFloats;
  return int(slices_.size()) - 1;
}

std::vector<ParamSlice> NetworkPlan::raw_slices() const {
  std::vector<ParamSlice> out;
  for (const auto& s : slices_) out.push_back(s.slice);
  return out;
}

std::string NetworkPlan::summary() const {
  std::ostringstream out;
  auto shape = [](const Shape3& s) {
    std::ostringstream o;
    o << s.C << "x" << s.H << "x" << s.W;
    return o.str();
  };
  out << "model " << spec_.name << " (" << lanes_ << " lane" << (lanes_ == 1 ? "" : "s") << ")\n";
  out << "  " << std::left << std::setw(10) << "layer" << std::setw(12) << "input" << std::setw(12)
      << "output" << std::right << std::setw(12) << "params/lane"
      << "\n";
  size_t per_lane = 0;
  for (const auto& l : layers_) {
    size_t n = 0;
    for (int s : l.tensor_slices)  // parameters: running statistics are not counted
      if (!(slices_[s].slice.flags & kSliceNotTrained)) n += slices_[s].slice.count / lanes_;
    per_lane += n;
    const std::string label = l.label + layer_type(l.spec.kind).summary(l.spec);
    out << "  " << std::left << std::setw(10) << label << std::setw(12) << shape(l.in)
        << std::setw(12) << shape(l.out) << std::right << std::setw(12) << n << "\n";
  }
  out << "  parameters per lane: " << per_lane << "\n";
  out << "  note: " << spec_.note << "\n";
  return out.str();
}

std::vector<float> initial_parameters(const NetworkPlan& plan, const std::vector<LaneInit>& lanes) {
  SGDLAB_CHECK(int(lanes.size()) == plan.lanes(), "one init per lane");
  std::vector<float> flat(plan.param_count(), 0.0f);
  const int T = plan.lanes();
  for (size_t s = 0; s < plan.slices().size(); ++s) {
    const SliceInfo& info = plan.slices()[s];
    if (info.init != SliceInfo::Drawn) {
      const float fill = info.init == SliceInfo::One ? 1.0f : 0.0f;
      std::fill(flat.begin() + info.slice.offset,
                flat.begin() + info.slice.offset + info.slice.count, fill);
      continue;
    }
    const size_t per_lane = info.slice.count / T;
    for (int t = 0; t < T; ++t) {
      const LaneInit& li = lanes[t];
      float low = li.low, high = li.high;
      if (li.kind == InitKind::Xavier) {
        const float a = std::sqrt(6.0f / float(info.fan_in + info.fan_out));
        low = -a;
        high = a;
      }
      float* dst = flat.data() + info.slice.offset + size_t(t) * per_lane;
      for (size_t i = 0; i < per_lane; ++i) {
        const Philox4 r = philox4x32_10(
            Philox4{{uint32_t(i >> 2), uint32_t(s), uint32_t(i >> 34), kPhiloxTagInit}},
            uint32_t(li.seed), uint32_t(li.seed >> 32));
        dst[i] = low + (high - low) * philox_unit_float(r.v[i & 3]);
      }
    }
  }
  return flat;
}

std::vector<float> extract_lane(const NetworkPlan& plan, const std::vector<float>& flat, int lane) {
  NetworkPlan single(plan.spec(), 1);
  std::vector<float> out(single.param_count(), 0.0f);
  for (size_t s = 0; s < plan.slices().size(); ++s) {
    const size_t per_lane = plan.slices()[s].slice.count / plan.lanes();
    std::copy_n(flat.data() + plan.slices()[s].slice.offset + size_t(lane) * per_lane, per_lane,
                out.data() + single.slices()[s].slice.offset);
  }
  return out;
}

void insert_lane(const NetworkPlan& plan, const std::vector<float>& lane_params, int lane,
                 std::vector<float>& flat) {
  NetworkPlan single(plan.spec(), 1);
  for (size_t s = 0; s < plan.slices().size(); ++s) {
    const size_t per_lane = plan.slices()[s].slice.count / plan.lanes();
    std::copy_n(lane_params.data() + single.slices()[s].slice.offset, per_lane,
                flat.data() + plan.slices()[s].slice.offset + size_t(lane) * per_lane);
  }
}

std::vector<Stage> make_stages(const NetworkPlan& plan, bool fuse) {
  auto is_activation = [](LayerKind k) { return layer_type(k).activation().has_value(); };
  std::vector<Stage> stages;
  const auto& layers = plan.layers();
  for (int i = 0; i < int(layers.size());) {
    const LayerKind k = layers[i].spec.kind;
    const LayerKind next = i + 1 < int(layers.size()) ? layers[i + 1].spec.kind : k;
    if (fuse && k == LayerKind::Relu && next == LayerKind::MaxPool)
      stages.push_back({Stage::ReluPool, i, 2});
    else if (fuse && is_activation(k) && next == LayerKind::Dropout)
      stages.push_back({Stage::ActivationDropout, i, 2});
    else
      stages.push_back({Stage::Layer, i, 1});
    i += stages.back().count;
  }
  return stages;
}

}  // namespace sgdlab
