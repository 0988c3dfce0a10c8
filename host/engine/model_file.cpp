#include "sgdlab/engine/model_file.hpp"

#include <algorithm>
#include <filesystem>

#include "layers/layer_util.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/json_text.hpp"
#include "sgdlab/engine/layer_type.hpp"

namespace sgdlab {
namespace {

// A layer's model-file name.
std::string type_name(LayerKind k) {
  return layer_type(k).type();
}

// The largest size, kernel or count a layer takes: far above any network sgdlab is for,
// and it keeps every product of sizes within 64 bits.
constexpr long long kMaxSize = 1 << 24;
constexpr long long kMaxInputSide = 65536;

}  // namespace

// The integer `key` of object `j`, at least `min`; `fallback` when absent and allowed.
int layers::read_integer(const nlohmann::json& j, const std::string& key, int min,
                         const std::string& where, const int* fallback) {
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

double layers::read_number(const nlohmann::json& j, const std::string& key, double fallback,
                           const std::string& where) {
  if (!j.contains(key)) return fallback;
  const nlohmann::json& v = j.at(key);
  if (!v.is_number()) SGDLAB_INPUT_ERROR(where, ": \"", key, "\" must be a number, got ", v.dump());
  return v.get<double>();
}

namespace {

int integer(const nlohmann::json& j, const std::string& key, int min, const std::string& where) {
  return layers::read_integer(j, key, min, where);
}

LayerSpec layer_from_json(const nlohmann::json& l, const std::string& where) {
  if (!l.is_object()) SGDLAB_INPUT_ERROR(where, ": expected an object, got ", l.dump());
  if (!l.contains("type") || !l.at("type").is_string())
    SGDLAB_INPUT_ERROR(where, ": expected \"type\": one of ", layer_type_names(", "));
  const std::string type = l.at("type").get<std::string>();
  const std::optional<LayerKind> kind = layer_kind_named(type);
  if (!kind)
    SGDLAB_INPUT_ERROR(where, ": unknown layer type \"", type, "\" (expected ",
                       layer_type_names(" or "), ")");
  const LayerType& described = layer_type(*kind);
  const std::string at = where + " " + type;
  std::vector<std::string> allowed = described.keys();
  allowed.push_back("type");
  for (const auto& [key, value] : l.items())
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
      SGDLAB_INPUT_ERROR(at, ": unknown key \"", key, "\"");
  LayerSpec s{*kind};
  described.read(l, s, at);
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

}  // namespace

bool operator==(const LayerSpec& a, const LayerSpec& b) {
  return a.kind == b.kind && a.units == b.units && a.kernel == b.kernel && a.stride == b.stride &&
         a.pad == b.pad && a.eps == b.eps && a.momentum == b.momentum;
}

void check_model(const ModelSpec& m, const std::string& source) {
  if (m.layers.empty()) SGDLAB_INPUT_ERROR(source, ": expected at least one layer");
  Shape3 shape = m.input;
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const std::string where =
        source + ": layer " + std::to_string(i + 1) + " " + type_name(m.layers[i].kind);
    layer_type(m.layers[i].kind).check_after(i ? &m.layers[i - 1] : nullptr, where);
    shape = layer_type(m.layers[i].kind).output(m.layers[i], shape, where);
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
    layer_type(l.kind).write(l, j);
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
