// sgdlab: train small networks and sweep their hyperparameters, many trials at once.
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <new>

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

int main(int argc, char** argv) {
  bound_openmp_spinning(argv);
  CLI::App app{
      "sgdlab: trains packs of small networks on one device and sweeps their "
      "hyperparameters (USPS digits: mlp, cnn, lcnn)"};
  app.set_version_flag("--version",
                       std::string("sgdlab ") + sgdlab::build_version() +
                           (sgdlab::cuda_compiled() ? " (CUDA support compiled in)"
                                                    : " (CPU only: no CUDA support compiled in)"));
  app.require_subcommand(1);
  // A flag given twice keeps its last value, as in most command-line tools.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sgdlab::cli::register_train(app);
  sgdlab::cli::register_bench(app);
  sgdlab::cli::register_sweep(app);
  sgdlab::cli::register_study(app);
  sgdlab::cli::register_predict(app);
  sgdlab::cli::register_export(app);
  sgdlab::cli::register_tpe_benchmark(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "sgdlab: " << e.what() << " (see --help)\n";
    return 2;
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
