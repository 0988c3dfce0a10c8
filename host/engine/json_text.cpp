#include "sgdlab/engine/json_text.hpp"

#include <set>
#include <utility>
#include <vector>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

// "line L, column C" of the 1-based byte `at` (where the parser stopped).
std::string position_text(const std::string& text, size_t at) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i + 1 < at && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

}  // namespace

nlohmann::json parse_json_text(const std::string& full_text, const std::string& source) {
  // nlohmann stops at a NUL byte and would take what follows it for the end of input.
  const size_t nul = full_text.find('\0');
  const std::string text = full_text.substr(0, nul);
  std::vector<std::pair<std::string, std::set<std::string>>> open;  // name, keys seen
  std::string key;
  const auto callback = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) {
      open.push_back({key, {}});
      key.clear();
    } else if (event == Event::object_end) {
      open.pop_back();
    } else if (event == Event::key) {
      key = parsed.get<std::string>();
      if (!open.back().second.insert(key).second) {
        std::string where = source;
        for (const auto& object : open)
          if (!object.first.empty()) where += ": " + object.first;
        SGDLAB_INPUT_ERROR(where, ": key '", key, "' is given twice");
      }
    }
    return true;
  };
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text, callback);
  } catch (const nlohmann::json::parse_error& e) {
    SGDLAB_INPUT_ERROR(source, ": not valid JSON at ", position_text(text, e.byte));
  } catch (const nlohmann::json::exception&) {  // out_of_range: 1e999
    SGDLAB_INPUT_ERROR(source, ": not valid JSON: a number beyond the range of a double");
  }
  if (nul != std::string::npos)
    SGDLAB_INPUT_ERROR(source, ": unexpected text after the JSON value at byte ", nul + 1);
  return j;
}

}  // namespace sgdlab
