#pragma once
#include <string>

namespace sgdlab {
// Fetches `url` into `path` with the curl program (any URL curl reads, file:// too);
// false with the reason in *why on failure, and no file left behind.
bool download_file(const std::string& url, const std::string& path, std::string* why);
}  // namespace sgdlab
