// The small pieces every stage of the study uses: lane settings from trial parameters,
// per-epoch rows as JSON, and the files a stage caches its results in.
#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/files.hpp"
#include "sgdlab/engine/model.hpp"
#include "sgdlab/search/lane_params.hpp"
#include "study_run.hpp"

namespace sgdlab::study {

LaneSettings settings_from(const StudyContext& c, const ParamValues& p, uint64_t seed) {
  return lane_settings(p, seed, c.o.epochs, c.device_data->image());
}

std::string model_folder(const StudyOptions& o, const std::string& model) {
  const auto presets = model_preset_names();
  if (std::find(presets.begin(), presets.end(), model) != presets.end()) return o.out + "/" + model;
  const std::string legacy = o.out + "/" + model;
  std::error_code ec;
  if (model.find("..") == std::string::npos && std::filesystem::is_directory(legacy, ec))
    return legacy;
  std::string key;
  for (char ch : model)
    key += std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.'
               ? ch
               : '_';
  if (key.empty() || key[0] == '.') key = "_" + key;
  return o.out + "/" + key;
}

SearchSpace study_space(const StudyOptions& o) {
  if (!o.space.empty()) return SearchSpace::from_argument(o.space);
  if (o.preset == "record") return SearchSpace::record_default();
  return o.preset == "beyond" ? SearchSpace::beyond_default() : SearchSpace::study_default();
}

nlohmann::json lane_rows_json(const std::vector<std::vector<EpochStats>>& epochs, int lane) {
  nlohmann::json j;
  for (const auto& rows : epochs) {
    const EpochStats& r = rows[lane];
    j["train_loss"].push_back(r.train_loss);
    j["val_acc"].push_back(r.val_acc);
    j["val_loss"].push_back(r.val_loss);
    j["grad_mean_abs"].push_back(r.grad_mean_abs);
    j["grad_l2"].push_back(r.grad_l2);
    j["seconds"].push_back(r.seconds);
  }
  return j;
}

nlohmann::json read_json(const std::string& path) {
  return nlohmann::json::parse(read_text_file(path));
}

void write_json(const std::string& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

void write_floats(const std::string& path, const std::vector<float>& v) {
  write_file_atomic(path,
                    std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
}

std::vector<float> read_floats(const std::string& path) {
  const std::string bytes = read_text_file(path);
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

std::vector<float> lane_probabilities(const std::vector<float>& p, size_t n, int lanes, int i,
                                      int classes) {
  SGDLAB_CHECK(p.size() == n * lanes * classes && i >= 0 && i < lanes,
               "probabilities [n, lanes, classes] of ", n, " x ", lanes, " x ", classes, ", got ",
               p.size(), " values");
  std::vector<float> out(n * classes);
  for (size_t r = 0; r < n; ++r)
    std::copy_n(p.begin() + (r * lanes + i) * classes, classes, out.begin() + r * classes);
  return out;
}

}  // namespace sgdlab::study
