#include "download.hpp"

#include <spawn.h>
#include <sys/wait.h>

#include <filesystem>
#include <vector>

extern char** environ;

namespace sgdlab {

bool download_file(const std::string& url, const std::string& path, std::string* why) {
  // curl as a program rather than libcurl: the download is rare, and the binary then
  // needs no TLS stack of its own on machines that only train.
  std::vector<std::string> args = {
      "curl", "--fail",   "--silent", "--location", "--connect-timeout", "20", "--max-time",
      "300",  "--output", path,       url};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, "curl", nullptr, nullptr, argv.data(), environ);
  if (rc != 0) {
    *why = "cannot run curl (install it, or put the files in place by hand)";
    return false;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *why = "curl failed (exit " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
           (WIFEXITED(status) && WEXITSTATUS(status) == 6 ? ", host not found: no network?" : "") +
           ")";
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return false;
  }
  return true;
}

}  // namespace sgdlab
