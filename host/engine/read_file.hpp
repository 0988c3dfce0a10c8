#pragma once
// A whole file, gunzipped when it is gzip (zlib reads plain files as they are). Throws
// InputError naming the file when it is missing, unreadable, corrupt or cut short.
// Private to host/engine (the data readers).
#include <string>

namespace sgdlab {

std::string read_maybe_gzip(const std::string& path);

}  // namespace sgdlab
