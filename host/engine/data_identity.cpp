// The identity of a data set: its files' SHA-256 sums, format, layout, split and
// scaling, and the words that name what differs between two of them.
#include "sgdlab/engine/data_identity.hpp"

#include <filesystem>
#include <vector>

#include "sgdlab/engine/datasets.hpp"

namespace sgdlab {
namespace {
namespace fs = std::filesystem;

// The files load_dataset read for `data`.
std::vector<std::string> files_read(const UspsData& data) {
  if (data.format == "npz") return {data.source};
  if (data.format == "idx") {
    const auto train = idx_split_files(data.source, "train");
    const auto test = idx_split_files(data.source, "test");
    return {train.first, train.second, test.first, test.second};
  }
  return {(fs::path(data.source) / "zip.train.gz").string(),
          (fs::path(data.source) / "zip.test.gz").string()};
}

// The start of a SHA-256 sum: enough to tell two apart in a message.
std::string short_sum(const nlohmann::json& sum) {
  return sum.is_string() ? sum.get<std::string>().substr(0, 12) + "..." : sum.dump();
}

std::string names_of(const nlohmann::json& files) {
  std::string out;
  if (files.is_object())
    for (const auto& [name, sum] : files.items()) out += (out.empty() ? "" : ", ") + name;
  return out.empty() ? "none" : out;
}

// The data files that differ: other names, or the same names with other contents.
std::vector<std::string> file_differences(const nlohmann::json& stored, const nlohmann::json& now,
                                          const std::string& holder) {
  const nlohmann::json before = stored.value("files", nlohmann::json::object());
  const nlohmann::json after = now.value("files", nlohmann::json::object());
  if (names_of(before) != names_of(after))
    return {"data files " + names_of(after) + " (" + holder + " has " + names_of(before) + ")"};
  std::vector<std::string> out;
  for (const auto& [name, sum] : after.items())
    if (before.at(name) != sum)
      out.push_back("data file " + name + ": SHA-256 " + short_sum(sum) + " (" + holder + " has " +
                    short_sum(before.at(name)) + ")");
  return out;
}

std::string normalize_of(const nlohmann::json& identity) {
  return identity.contains("scaling") && identity["scaling"].contains("mean") ? "standard" : "none";
}

}  // namespace

nlohmann::json data_identity(const UspsData& data, const DataOptions& options) {
  nlohmann::json files = nlohmann::json::object();
  for (const std::string& path : files_read(data))
    files[fs::path(path).filename().string()] = sha256_file(path);
  nlohmann::json j = {{"format", data.format},
                      {"files", files},
                      {"split_seed", options.split_seed},
                      {"scaling", data.scaling.to_json()}};
  // Only an npz file's images are read by layout.
  if (data.format == "npz") j["layout"] = options.nhwc ? "nhwc" : "nchw";
  return j;
}

std::string data_identity_difference(const nlohmann::json& stored, const nlohmann::json& now,
                                     const std::string& holder) {
  if (stored == now) return "";
  if (!stored.is_object())
    return "the data (" + holder + " has an unreadable record of its data: " + stored.dump() + ")";
  std::vector<std::string> parts;
  auto compare = [&](const char* key, const std::string& what) {
    const nlohmann::json before = stored.value(key, nlohmann::json()),
                         after = now.value(key, nlohmann::json());
    if (before != after)
      parts.push_back(what + " " + (after.is_string() ? after.get<std::string>() : after.dump()) +
                      " (" + holder + " has " +
                      (before.is_string() ? before.get<std::string>() : before.dump()) + ")");
  };
  compare("format", "--format");
  compare("layout", "--layout");
  for (auto& f : file_differences(stored, now, holder)) parts.push_back(std::move(f));
  compare("split_seed", "--split-seed");
  if (normalize_of(stored) != normalize_of(now))
    parts.push_back("--normalize " + normalize_of(now) + " (" + holder + " has " +
                    normalize_of(stored) + ")");
  else
    compare("scaling", "scaling");
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : "; ") + p;
  // Whatever else a newer sgdlab may record.
  return out.empty() ? "the data (" + holder + " has " + stored.dump() + ")" : out;
}

}  // namespace sgdlab
