// sgdlab: train small networks and sweep their hyperparameters, many trials at once.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <new>
#include <string>

#include "common.hpp"
#include "sgdlab/core/backend.hpp"
#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/build_info.hpp"

// libgomp's threads spin ~300k iterations at every barrier before sleeping. Alone on a
// machine that is fastest, but two sgdlab processes on the same cores (workers sharing
// a study) then spend their time spinning while the other holds the core: measured on
// 2 cores, a CNN epoch went from 0.5 s to 28.7 s each. A spin count of 1000 kept the
// single-process speed and gave 1.05 s each for two processes. libgomp reads the
// setting when it loads, before main, so the process re-executes itself once with it,
// unless the user chose a wait policy.
void bound_openmp_spinning(char** argv) {
  if (std::getenv("GOMP_SPINCOUNT") || std::getenv("OMP_WAIT_POLICY")) return;
  setenv("GOMP_SPINCOUNT", "1000", 1);
  execv("/proc/self/exe", argv);  // returns only on failure: then run as we are
}

// A standard stream the caller closed (`>&-`) leaves its descriptor free, and the next
// file sgdlab opens (a checkpoint, a study) would take it, so that what is printed lands
// in that file. /dev/null opened read-only holds the place: a write to it fails, and the
// failure is reported at exit (stdout) like any other.
void hold_closed_standard_streams() {
  for (int fd = 0; fd <= 2; ++fd)
    if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
      const int held = open("/dev/null", O_RDONLY);
      if (held >= 0 && held != fd) {
        dup2(held, fd);
        close(held);
      }
    }
}

// What a command printed is its result (predict's CSV, trials' table): a write that
// failed (a full disk, a closed stdout) is a failure, said in one line, not exit 0.
int check_standard_output(int code) {
  std::cout.flush();
  errno = 0;
  const bool failed = std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout;
  if (!failed) return code;
  const int why = errno;
  std::cerr << "sgdlab: standard output: a write failed ("
            << (why ? std::strerror(why) : "the output was cut short") << ")\n";
  return code ? code : 2;
}

// A flag given twice is refused rather than one of the two silently ignored. (Flags
// without a value, --save --save, mean the same either way.)
void refuse_repeated_options(CLI::App& command) {
  for (const CLI::Option* opt : command.get_options())
    if (opt->get_items_expected_max() == 1 && opt->count() > 1)
      throw CLI::ArgumentMismatch(opt->get_name() + ": given " + std::to_string(opt->count()) +
                                  " times (give it once; a comma list makes several values)");
}

// CLI11 takes the word after a flag that needs a value as that value, even when it is
// the next flag: `--lr --epochs 2` read "--epochs" as the learning rate and then refused
// "2" as an unexpected argument. A value that is one of the command's flags is refused
// as what it is.
void refuse_flags_as_values(CLI::App& command) {
  for (CLI::Option* opt : command.get_options()) {
    if (opt->get_items_expected_max() < 1) continue;
    opt->check(CLI::Validator(
        [&command](std::string& value) -> std::string {
          if (value.rfind("--", 0) != 0 ||
              !command.get_option_no_throw(value.substr(0, value.find('='))))
            return "";
          return "expected a value, got the flag " + value;
        },
        "", "not a flag"));
  }
}

int run(int argc, char** argv);

int main(int argc, char** argv) {
  hold_closed_standard_streams();
  bound_openmp_spinning(argv);
  return check_standard_output(run(argc, argv));
}

int run(int argc, char** argv) {
  CLI::App app{
      "sgdlab: trains packs of small networks on one device and sweeps their "
      "hyperparameters (USPS digits: mlp, cnn, lcnn)"};
  app.set_version_flag("--version",
                       std::string("sgdlab ") + sgdlab::build_version() +
                           (sgdlab::cuda_compiled() ? " (CUDA support compiled in)"
                                                    : " (CPU only: no CUDA support compiled in)"));
  app.require_subcommand(1);
  // Every occurrence is kept so that refuse_repeated_options sees a flag given twice.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sgdlab::cli::register_train(app);
  sgdlab::cli::register_bench(app);
  sgdlab::cli::register_sweep(app);
  sgdlab::cli::register_study(app);
  sgdlab::cli::register_predict(app);
  sgdlab::cli::register_export(app);
  sgdlab::cli::register_tpe_benchmark(app);
  for (CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
    refuse_flags_as_values(*command);
  // Runs once parsing is done, before the command's own callback.
  app.parse_complete_callback([&app] {
    for (CLI::App* command : app.get_subcommands()) refuse_repeated_options(*command);
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "sgdlab: " << e.what() << " (see --help)\n";
    return 2;
  } catch (const sgdlab::cli::Interrupted& e) {
    std::cerr << "sgdlab: " << e.what() << "\n";
    return 128 + e.signal();
  } catch (const sgdlab::InputError& e) {
    std::cerr << "sgdlab: " << e.what() << "\n";
    return 2;
  } catch (const std::bad_alloc&) {  // a size that no check foresaw: one line, no trace
    std::cerr << "sgdlab: out of memory (the run needs more than this machine has)\n";
    return 2;
  } catch (const sgdlab::Error& e) {
    std::cerr << "sgdlab: " << e.what() << " (" << e.file() << ":" << e.line() << ")\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sgdlab: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
