#pragma once
// How much memory this process may still take, so that a size read from a file or
// computed from a plan is refused before anything is allocated, in one line that names
// the need and what is there (rather than an out-of-memory halfway).
#include <cstdint>
#include <string>

namespace sgdlab {

// Bytes this process can still allocate: the smaller of the host's available memory
// (MemAvailable of /proc/meminfo) and what its address-space limit (RLIMIT_AS) leaves
// beyond the address space it holds now. UINT64_MAX where neither is known.
uint64_t available_host_memory();

// "1.5 GB", "640 MB", "12 kB": a byte count for a message.
std::string byte_text(double bytes);

// Throws InputError "<what>: needs <bytes> but <available> of memory is available" when
// `bytes` is more than available_host_memory().
void require_host_memory(double bytes, const std::string& what);

}  // namespace sgdlab
