#pragma once
// JSON that a user wrote (model files, search spaces, safetensors headers, checkpoint
// metadata), parsed strictly and refused in our words: nlohmann's parser text
// ("[json.exception.parse_error.101] syntax error while parsing value - ...") says
// nothing to a user, and nlohmann silently keeps the last of two equal keys.
#include <nlohmann/json.hpp>
#include <string>

namespace sgdlab {

// The JSON value of `text`. Throws InputError naming `source`:
//   "<source>: not valid JSON at line L, column C"
//   "<source>: not valid JSON at line L, column C: a number beyond the range of a double"
//   "<source>: <object>: key 'k' is given twice"
//   "<source>: unexpected text after the JSON value at byte N" (a NUL byte, where
//   nlohmann would stop reading)
nlohmann::json parse_json_text(const std::string& text, const std::string& source);

}  // namespace sgdlab
