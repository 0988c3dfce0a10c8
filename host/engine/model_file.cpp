#include "sgdlab/engine/model_file.hpp"

#include <filesystem>
#include <map>
#include <set>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/json_text.hpp"

namespace sgdlab {
namespace {

const std::map<std::string, LayerKind>& layer_types() {
  static const std::map<std::string, LayerKind> types = {
      {"dense", LayerKind::Dense},     {"conv2d", LayerKind::Conv2d},
      {"local2d", LayerKind::Local2d}, {"max-pool", LayerKind::MaxPool},
      {"relu", LayerKind::Relu},       {"tanh", LayerKind::Tanh},
      {"sigmoid", LayerKind::Sigmoid}, {"dropout", LayerKind::Dropout}};
  return types;
}

std::string type_name(LayerKind k) {
  for (const auto& [name, kind] : layer_types())
    if (kind == k) return name;
  return "?";
}

// The keys each layer type takes; anything else is a typo the user should hear about.
std::set<std::string> keys_of(LayerKind k) {
  switch (k) {
    case LayerKind::Dense:
      return {"type", "out"};
    case LayerKind::Conv2d:
    case LayerKind::Local2d:
      return {"type", "out", "kernel", "stride", "pad"};
    case LayerKind::MaxPool:
      return {"type", "kernel", "stride"};
    default:
      return {"type"};
  }
}

// The largest size, kernel or count a layer takes: far above any network sgdlab is for,
// and it keeps every product of sizes within 64 bits.
constexpr long long kMaxSize = 1 << 24;
constexpr long long kMaxInputSide = 65536;

// The integer `key` of object `j`, at least `min`; `fallback` when absent and allowed.
int integer(const nlohmann::json& j, const std::string& key, int min, const std::string& where,
            const int* fallback = nullptr) {
  if (!j.contains(key)) {
    if (fallback) return *fallback;
    SGDLAB_INPUT_ERROR(where, ": expected \"", key, "\"");
  }
  const nlohmann::json& v = j.at(key);
  if (!v.is_number_integer())
    SGDLAB_INPUT_ERROR(where, ": \"", key, "\" must be an integer, got ", v.dump());
  if (v.is_number_unsigned() ? v.get<uint64_t>() > kMaxSize : v.get<long long>() > kMaxSize)
    SGDLAB_INPUT_ERROR(where, ": \"", key, "\" is ", v.dump(), ", more than the ", kMaxSize,
                       " sgdlab takes");
  const long long n = v.get<long long>();
  if (n < min) SGDLAB_INPUT_ERROR(where, ": \"", key, "\" must be at least ", min, ", got ", n);
  return int(n);
}

LayerSpec layer_from_json(const nlohmann::json& l, const std::string& where) {
  if (!l.is_object()) SGDLAB_INPUT_ERROR(where, ": expected an object, got ", l.dump());
  if (!l.contains("type") || !l.at("type").is_string())
    SGDLAB_INPUT_ERROR(where,
                       ": expected \"type\": one of dense, conv2d, local2d, max-pool, "
                       "relu, tanh, sigmoid, dropout");
  const std::string type = l.at("type").get<std::string>();
  const auto it = layer_types().find(type);
  if (it == layer_types().end())
    SGDLAB_INPUT_ERROR(where, ": unknown layer type \"", type,
                       "\" (expected dense, conv2d, local2d, max-pool, relu, tanh, sigmoid or "
                       "dropout)");
  const std::string at = where + " " + type;
  const std::set<std::string> allowed = keys_of(it->second);
  for (const auto& [key, value] : l.items())
    if (!allowed.count(key)) SGDLAB_INPUT_ERROR(at, ": unknown key \"", key, "\"");
  LayerSpec s{it->second};
  const int one = 1, zero = 0;
  switch (s.kind) {
    case LayerKind::Dense:
      s.units = integer(l, "out", 1, at);
      break;
    case LayerKind::Conv2d:
    case LayerKind::Local2d:
      s.units = integer(l, "out", 1, at);
      s.kernel = integer(l, "kernel", 1, at);
      s.stride = integer(l, "stride", 1, at, &one);
      s.pad = integer(l, "pad", 0, at, &zero);
      break;
    case LayerKind::MaxPool:
      s.kernel = integer(l, "kernel", 1, at);
      s.stride = integer(l, "stride", 1, at, &s.kernel);
      break;
    default:
      break;
  }
  return s;
}

Shape3 input_from_json(const nlohmann::json& j, const std::string& source) {
  const nlohmann::json* in = j.contains("input") ? &j.at("input") : nullptr;
  if (!in || !in->is_array() || in->size() != 3)
    SGDLAB_INPUT_ERROR(source, ": expected \"input\": [channels, height, width]",
                       in ? ", got " + in->dump() : std::string());
  Shape3 s;
  int* dims[] = {&s.C, &s.H, &s.W};
  const char* names[] = {"channels", "height", "width"};
  for (int i = 0; i < 3; ++i) {
    const nlohmann::json& v = (*in)[i];
    if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(kMaxInputSide))
      SGDLAB_INPUT_ERROR(source, ": input ", names[i], " is ", v.dump(), ", more than the ",
                         kMaxInputSide, " sgdlab takes");
    if (!v.is_number_integer() || v.get<long long>() < 1)
      SGDLAB_INPUT_ERROR(source, ": input ", names[i], " must be an integer >= 1, got ", v.dump());
    *dims[i] = v.get<int>();
  }
  return s;
}

std::string shape_text(const Shape3& s) {
  return std::to_string(s.C) + "x" + std::to_string(s.H) + "x" + std::to_string(s.W);
}

// The shape after one layer, or an InputError naming it (`where`) and why.
Shape3 layer_output(const LayerSpec& l, const Shape3& in, const std::string& where) {
  switch (l.kind) {
    case LayerKind::Dense:
      return {l.units, 1, 1};
    case LayerKind::Conv2d:
    case LayerKind::Local2d:
    case LayerKind::MaxPool: {
      const int pad = l.kind == LayerKind::MaxPool ? 0 : l.pad;
      if (in.H + 2 * pad < l.kernel || in.W + 2 * pad < l.kernel)
        SGDLAB_INPUT_ERROR(where, ": input ", shape_text(in), " is smaller than kernel ", l.kernel,
                           " with pad ", pad);
      const int C = l.kind == LayerKind::MaxPool ? in.C : l.units;
      return {C, (in.H + 2 * pad - l.kernel) / l.stride + 1,
              (in.W + 2 * pad - l.kernel) / l.stride + 1};
    }
    default:
      return in;
  }
}

}  // namespace

bool operator==(const LayerSpec& a, const LayerSpec& b) {
  return a.kind == b.kind && a.units == b.units && a.kernel == b.kernel && a.stride == b.stride &&
         a.pad == b.pad;
}

void check_model(const ModelSpec& m, const std::string& source) {
  if (m.layers.empty()) SGDLAB_INPUT_ERROR(source, ": expected at least one layer");
  Shape3 shape = m.input;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const std::string where =
        source + ": layer " + std::to_string(i + 1) + " " + type_name(m.layers[i].kind);
    shape = layer_output(m.layers[i], shape, where);
    if (shape.size() > (size_t(1) << 31))
      SGDLAB_INPUT_ERROR(where, ": output ", shape_text(shape), " is too large");
  }
  if (shape.size() != size_t(m.classes))
    SGDLAB_INPUT_ERROR(source, ": the last layer gives ", shape.size(), " outputs (",
                       shape_text(shape), ") but \"classes\" is ", m.classes);
}

ModelSpec model_from_json(const nlohmann::json& j, const std::string& source) {
  if (!j.is_object())
    SGDLAB_INPUT_ERROR(source, ": expected a JSON object with input, classes and layers");
  for (const auto& [key, value] : j.items())
    if (key != "name" && key != "input" && key != "classes" && key != "layers" && key != "note")
      SGDLAB_INPUT_ERROR(source, ": unknown key \"", key,
                         "\" (expected name, input, classes, layers, note)");
  ModelSpec m;
  m.name = j.contains("name") && j.at("name").is_string()
               ? j.at("name").get<std::string>()
               : std::filesystem::path(source).stem().string();
  if (j.contains("note") && j.at("note").is_string()) m.note = j.at("note").get<std::string>();
  m.input = input_from_json(j, source);
  m.classes = integer(j, "classes", 2, source);
  if (!j.contains("layers") || !j.at("layers").is_array())
    SGDLAB_INPUT_ERROR(source, ": expected \"layers\": a list of layers");
  const nlohmann::json& layers = j.at("layers");
  for (size_t i = 0; i < layers.size(); ++i)
    m.layers.push_back(layer_from_json(layers[i], source + ": layer " + std::to_string(i + 1)));
  check_model(m, source);
  return m;
}

nlohmann::json model_to_json(const ModelSpec& m) {
  nlohmann::json layers = nlohmann::json::array();
  for (const LayerSpec& l : m.layers) {
    nlohmann::json j = {{"type", type_name(l.kind)}};
    if (l.kind == LayerKind::Dense) j["out"] = l.units;
    if (l.kind == LayerKind::Conv2d || l.kind == LayerKind::Local2d) {
      j["out"] = l.units;
      j["kernel"] = l.kernel;
      if (l.stride != 1) j["stride"] = l.stride;
      if (l.pad != 0) j["pad"] = l.pad;
    }
    if (l.kind == LayerKind::MaxPool) {
      j["kernel"] = l.kernel;
      if (l.stride != l.kernel) j["stride"] = l.stride;
    }
    layers.push_back(j);
  }
  nlohmann::json j = {{"name", m.name},
                      {"input", {m.input.C, m.input.H, m.input.W}},
                      {"classes", m.classes},
                      {"layers", layers}};
  if (!m.note.empty()) j["note"] = m.note;
  return j;
}

ModelSpec load_model(const std::string& name_or_path) {
  const auto presets = model_preset_names();
  for (const auto& p : presets)
    if (p == name_or_path) return model_preset(p);
  const std::filesystem::path path(name_or_path);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    // A name that reads as a file (a folder in it, or .json) is a file that is missing.
    const bool looks_like_a_file =
        path.has_parent_path() || path.extension() == ".json" || std::filesystem::exists(path, ec);
    if (std::filesystem::is_directory(path, ec))
      SGDLAB_INPUT_ERROR("--model ", name_or_path, ": is a folder, not a model file (.json)");
    if (looks_like_a_file) SGDLAB_INPUT_ERROR("--model ", name_or_path, ": no such model file");
    SGDLAB_INPUT_ERROR("--model ", name_or_path,
                       ": expected a preset (mlp, cnn, lcnn) or a model file (.json)");
  }
  const nlohmann::json j = parse_json_text(read_text_file(name_or_path), name_or_path);
  return model_from_json(j, name_or_path);
}

}  // namespace sgdlab
