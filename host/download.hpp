#pragma once
#include <string>

namespace sgdlab {
// Fetches `url` into `path` with libcurl; false with the reason in *why on failure.
bool download_file(const std::string& url, const std::string& path, std::string* why);
}  // namespace sgdlab
