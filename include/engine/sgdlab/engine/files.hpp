#pragma once
// Output files are written whole or not at all: to a temporary name, then renamed.
#include <string>

namespace sgdlab {

// A failure (folder not creatable, disk full, target a folder) removes the temporary file
// and is an InputError naming `path`.
void write_file_atomic(const std::string& path, const std::string& content);
std::string read_text_file(const std::string& path);
// Makes a folder and its parents (nothing when it exists); a failure (a file in the way,
// no permission) is an InputError "<what> <path>: cannot create the folder (<why>)".
void make_folders(const std::string& path, const std::string& what);

}  // namespace sgdlab
