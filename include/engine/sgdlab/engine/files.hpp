#pragma once
// Output files are written whole or not at all: to a temporary name, then renamed.
#include <string>

namespace sgdlab {

// A failure (folder not creatable, disk full, target a folder) removes the temporary file
// and is an InputError naming `path`.
void write_file_atomic(const std::string& path, const std::string& content);
std::string read_text_file(const std::string& path);

}  // namespace sgdlab
