// sgdlab: train small networks and sweep their hyperparameters, many trials at once.
#include <CLI/CLI.hpp>

#include <iostream>

#include "host/cli/common.hpp"
#include "sgdlab/backend.hpp"
#include "sgdlab/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sgdlab: trains packs of small networks on one device and sweeps their "
               "hyperparameters (USPS digits: mlp, cnn, lcnn)"};
  app.set_version_flag("--version",
                       std::string("sgdlab ") + SGDLAB_VERSION +
                           (sgdlab::cuda_compiled() ? " (CUDA support compiled in)"
                                                    : " (CPU only: no CUDA support compiled in)"));
  app.require_subcommand(1);
  // A flag given twice keeps its last value, as in most command-line tools.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  sgdlab::cli::register_train(app);
  sgdlab::cli::register_bench(app);
  sgdlab::cli::register_sweep(app);
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
  } catch (const sgdlab::Error& e) {
    std::cerr << "sgdlab: " << e.what() << " (" << e.file() << ":" << e.line() << ")\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "sgdlab: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
