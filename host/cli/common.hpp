#pragma once
// Pieces shared by the sgdlab commands.
#include <CLI/CLI.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/engine/data.hpp"
#include "sgdlab/engine/lane_options.hpp"
#include "sgdlab/engine/trainer.hpp"

namespace sgdlab::cli {

// A command that SIGINT or SIGTERM stopped where it could be continued: main prints
// what() in one line and exits 128 + signal (130, 143).
class Interrupted : public std::runtime_error {
 public:
  Interrupted(int signal, const std::string& what) : std::runtime_error(what), signal_(signal) {}
  int signal() const { return signal_; }

 private:
  int signal_;
};

// While one lives, SIGINT and SIGTERM only set a flag that the command reads where it can
// stop cleanly (between epochs); a second signal acts as usual (the handler is reset).
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;
  // The signal received, 0 while none.
  static int received();
  static const char* name(int signal);  // "SIGINT"
};

// "cpu", "cuda" or "auto": auto picks CUDA when a GPU is usable and says when it falls back.
std::unique_ptr<Backend> make_backend(const std::string& device,
                                      const BackendOptions& options = {});
void add_device_option(CLI::App& app, std::string& device);
// --tf32 and --autotune, for the commands that train.
void add_gpu_math_options(CLI::App& app, BackendOptions& options);
// Prints what the backend chose not to do (Backend::take_warnings) to stderr.
void print_warnings(Backend& backend);

// --data, --format, --layout and --normalize.
void add_data_options(CLI::App& app, DataOptions& options);
// The data as load_dataset reads it, saying on stderr when it was downloaded just now.
UspsData load_data(const DataOptions& options);

// A default run folder under runs/ named after the command and the time.
std::string default_out_dir(const std::string& what);

void register_train(CLI::App& app);
void register_bench(CLI::App& app);
void register_sweep(CLI::App& app);
void register_tpe_benchmark(CLI::App& app);
void register_study(CLI::App& app);
void register_predict(CLI::App& app);  // predict and evaluate
void register_export(CLI::App& app);

}  // namespace sgdlab::cli
