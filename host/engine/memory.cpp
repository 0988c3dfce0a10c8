#include "sgdlab/engine/memory.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>

#include "sgdlab/core/error.hpp"

namespace sgdlab {
namespace {

constexpr uint64_t kUnknown = std::numeric_limits<uint64_t>::max();

// MemAvailable of /proc/meminfo: what the kernel can give without swapping.
uint64_t meminfo_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kb = 0;
  std::string unit;
  while (in >> key >> kb >> unit)
    if (key == "MemAvailable:") return kb * 1024;
  return kUnknown;
}

// The address space this process holds now (the first field of /proc/self/statm, pages).
uint64_t address_space_used() {
  std::ifstream in("/proc/self/statm");
  uint64_t pages = 0;
  if (!(in >> pages)) return 0;
  return pages * uint64_t(::sysconf(_SC_PAGESIZE));
}

// What RLIMIT_AS (ulimit -v) leaves.
uint64_t address_space_left() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnknown;
  const uint64_t used = address_space_used();
  return limit.rlim_cur > used ? uint64_t(limit.rlim_cur) - used : 0;
}

}  // namespace

uint64_t available_host_memory() {
  return std::min(meminfo_available(), address_space_left());
}

std::string byte_text(double bytes) {
  const char* units[] = {"bytes", "kB", "MB", "GB", "TB", "PB"};
  int u = 0;
  while (bytes >= 1000 && u < 5) {
    bytes /= 1000;
    ++u;
  }
  char text[64];
  std::snprintf(text, sizeof text, u == 0 || bytes >= 100 ? "%.0f %s" : "%.3g %s", bytes, units[u]);
  return text;
}

void require_host_memory(double bytes, const std::string& what) {
  const uint64_t available = available_host_memory();
  if (available != kUnknown && bytes > double(available))
    SGDLAB_INPUT_ERROR(what, ": needs ", byte_text(bytes), " of memory but ",
                       byte_text(double(available)), " is available");
}

}  // namespace sgdlab
