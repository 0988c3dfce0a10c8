#include "sgdlab/engine/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/json_text.hpp"

namespace sgdlab {
namespace {

// The format caps the header at 100 MB; sgdlab's are a few kilobytes.
constexpr uint64_t kMaxHeader = 100'000'000;

uint64_t element_count(const std::vector<int64_t>& shape) {
  uint64_t n = 1;
  for (int64_t d : shape) n *= uint64_t(d);
  return n;
}

struct Entry {
  std::string name;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

// One tensor's header entry, checked: F32, a shape of non-negative integers, offsets
// that give exactly the shape's bytes.
Entry parse_entry(const std::string& name, const nlohmann::json& j, const std::string& where) {
  if (!j.is_object() || !j.contains("dtype") || !j.contains("shape") || !j.contains("data_offsets"))
    SGDLAB_INPUT_ERROR(where, ": expected {\"dtype\", \"shape\", \"data_offsets\"}");
  if (!j.at("dtype").is_string() || j.at("dtype").get<std::string>() != "F32")
    SGDLAB_INPUT_ERROR(where, ": dtype ", j.at("dtype").dump(), " (sgdlab reads F32 tensors)");
  Entry e{name};
  const nlohmann::json& shape = j.at("shape");
  const nlohmann::json& offsets = j.at("data_offsets");
  if (!shape.is_array() || shape.size() > 8)
    SGDLAB_INPUT_ERROR(where, ": expected a shape of at most 8 dimensions");
  for (const auto& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > (uint64_t(1) << 32))
      SGDLAB_INPUT_ERROR(where, ": shape ", shape.dump(), " is not a list of sizes");
    e.shape.push_back(d.get<int64_t>());
  }
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    SGDLAB_INPUT_ERROR(where, ": expected data_offsets [begin, end]");
  e.begin = offsets[0].get<uint64_t>();
  e.end = offsets[1].get<uint64_t>();
  const uint64_t count = element_count(e.shape);
  if (e.end < e.begin || count > (uint64_t(1) << 40) || e.end - e.begin != count * 4)
    SGDLAB_INPUT_ERROR(where, ": data_offsets ", offsets.dump(), " do not hold shape ",
                       shape.dump(), " of F32");
  return e;
}

std::map<std::string, std::string> parse_metadata(const nlohmann::json& j,
                                                  const std::string& source) {
  std::map<std::string, std::string> out;
  if (!j.is_object()) SGDLAB_INPUT_ERROR(source, ": __metadata__ is not an object");
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) SGDLAB_INPUT_ERROR(source, ": __metadata__ ", k, " is not a string");
    out[k] = v.get<std::string>();
  }
  return out;
}

}  // namespace

const Tensor* SafetensorsFile::find(const std::string& name) const {
  for (const Tensor& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

std::string safetensors_bytes(const std::vector<Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const Tensor& t : tensors) {
    SGDLAB_CHECK(element_count(t.shape) == t.data.size(), t.name, "'s data fills its shape");
    const uint64_t bytes = t.data.size() * sizeof(float);
    header[t.name] = {
        {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // The data starts 8-byte aligned, as the reference writer pads its header.
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  out += text;
  for (const Tensor& t : tensors)
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  return out;
}

void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, safetensors_bytes(tensors, metadata));
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source) {
  if (bytes.size() < 8) SGDLAB_INPUT_ERROR(source, ": truncated (", bytes.size(), " bytes)");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= uint64_t(uint8_t(bytes[i])) << (8 * i);
  if (n > kMaxHeader || n > bytes.size() - 8)
    SGDLAB_INPUT_ERROR(source, ": header length ", n, " goes beyond the file (", bytes.size(),
                       " bytes)");
  // A tensor named twice would silently keep the last: refused with the rest.
  const nlohmann::json header = parse_json_text(bytes.substr(8, n), source + ": header");
  if (!header.is_object()) SGDLAB_INPUT_ERROR(source, ": the header is not a JSON object");
  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__")
      file.metadata = parse_metadata(value, source);
    else
      entries.push_back(parse_entry(name, value, source + ": " + name));
  }
  std::sort(entries.begin(), entries.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  const uint64_t data_size = bytes.size() - 8 - n;
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    if (e.end > data_size)
      SGDLAB_INPUT_ERROR(source, ": ", e.name, ": data_offsets end at ", e.end,
                         " beyond the data (", data_size, " bytes)");
    if (i > 0 && e.begin < entries[i - 1].end)
      SGDLAB_INPUT_ERROR(source, ": ", e.name, " overlaps ", entries[i - 1].name);
    Tensor t{e.name, e.shape, std::vector<float>((e.end - e.begin) / 4)};
    // An empty tensor's vector may have no storage: memcpy of a null pointer is undefined
    // even for 0 bytes (UBSan's nonnull-attribute).
    if (e.end > e.begin)
      std::memcpy(t.data.data(), bytes.data() + 8 + n + e.begin, e.end - e.begin);
    file.tensors.push_back(std::move(t));
  }
  return file;
}

SafetensorsFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_text_file(path), path);
}

}  // namespace sgdlab
