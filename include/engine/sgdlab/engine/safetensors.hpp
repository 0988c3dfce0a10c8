#pragma once
// safetensors files, written and read to the published format: an 8-byte little-endian
// header length N, N bytes of JSON mapping each tensor name to {"dtype", "shape",
// "data_offsets": [begin, end]} (offsets into the data after the header) plus an
// optional "__metadata__" map of strings, then the data. sgdlab stores F32 tensors in C
// order (docs/checkpoints.md).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sgdlab {

struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> data;  // C order; its size is the product of the shape
};

struct SafetensorsFile {
  std::vector<Tensor> tensors;  // in the order of their data in the file
  std::map<std::string, std::string> metadata;
  const Tensor* find(const std::string& name) const;
};

// The file's bytes; tensors are laid out in the order given, without gaps.
std::string safetensors_bytes(const std::vector<Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata);
// Writes atomically (a temporary file, then a rename).
void write_safetensors(const std::string& path, const std::vector<Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata);

// Parses a file's bytes; `source` names it in errors. Throws InputError for a file cut
// short, a header length beyond the file, invalid header JSON, a dtype other than F32,
// a shape that does not match its offsets, and offsets that overlap or leave the data.
SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& source);
SafetensorsFile read_safetensors(const std::string& path);

}  // namespace sgdlab
