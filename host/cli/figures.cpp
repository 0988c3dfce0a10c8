#include "figures.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <vector>

#include "sgdlab/engine/build_info.hpp"

extern char** environ;

namespace sgdlab::cli {
namespace {
namespace fs = std::filesystem;

// Runs `args` (args[0] looked up on PATH when it has no slash) and waits; the exit
// status, or -1 when it could not start. `quiet` sends its output to /dev/null.
int run_program(const std::vector<std::string>& args, bool quiet) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (quiet) {
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  }
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return -1;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool has_matplotlib(const std::string& python) {
  return run_program({python, "-c", "import matplotlib"}, true) == 0;
}

// Every python3 on PATH, in order, each real file once: the first one is not always
// the one with matplotlib (a pyenv interpreter ahead of the system's, say).
std::vector<std::string> pythons_on_path() {
  std::vector<std::string> out;
  std::vector<fs::path> seen;
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = fs::path(dir.empty() ? "." : dir) / "python3";
    std::error_code ec;
    const fs::path real = fs::canonical(candidate, ec);
    if (ec || access(candidate.c_str(), X_OK) != 0) continue;
    bool dup = false;
    for (const auto& s : seen) dup = dup || s == real;
    if (dup) continue;
    seen.push_back(real);
    out.push_back(candidate.string());
  }
  return out;
}

}  // namespace

bool make_figures(const std::string& python, const std::string& study_dir, std::ostream& log) {
  const std::string script = (fs::path(build_source_dir()) / "tools" / "figures.py").string();
  const std::string later = " make them later with\n  python3 " + script + " " + study_dir +
                            "   (apt-get install python3-matplotlib)";
  if (!fs::exists(script)) {
    log << "figures: " << script << " is not there;" << later << std::endl;
    return false;
  }
  std::string chosen;
  for (const std::string& p : python.empty() ? pythons_on_path() : std::vector{python})
    if (has_matplotlib(p)) {
      chosen = p;
      break;
    }
  if (chosen.empty()) {
    log << "figures: " << (python.empty() ? "no python3 on PATH has" : python + " has no")
        << " matplotlib;" << later << std::endl;
    return false;
  }
  log << "figures: " << chosen << " " << script << " " << study_dir << std::endl;
  if (run_program({chosen, script, study_dir}, false) == 0) return true;
  log << "figures: the script failed; rerun: " << chosen << " " << script << " " << study_dir
      << std::endl;
  return false;
}

}  // namespace sgdlab::cli
