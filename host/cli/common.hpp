#pragma once
// Pieces shared by the sgdlab commands.
#include <CLI/CLI.hpp>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "sgdlab/core/backend.hpp"
#include "sgdlab/engine/data.hpp"
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

// Parses "a,b,c" into numbers, each finite and within the float range (they become
// floats); throws InputError naming the flag.
std::vector<double> parse_list(const std::string& flag, const std::string& text);
// Parses "a,b,c" into unsigned integers (decimal digits only: no sign, fraction or
// exponent, at most 2^64 - 1); throws InputError naming the flag.
std::vector<uint64_t> parse_uint_list(const std::string& flag, const std::string& text);
uint64_t parse_uint(const std::string& flag, const std::string& text);
// Lists of length 1 broadcast to `lanes`; any other length must equal it.
std::vector<double> broadcast(const std::string& flag, const std::vector<double>& v, size_t lanes);
template <class T>
std::vector<T> broadcast_list(const std::string& flag, const std::vector<T>& v, size_t lanes);

// --augment: "shift=S,rotate=R,scale=Z,alpha=A,sigma=G" (any of them, alpha with sigma;
// empty: off).
Augment parse_augment(const std::string& text);
// --init: "xavier" or "uniform:LOW:HIGH" into the lane's initialisation.
void parse_init(const std::string& text, LaneSettings& lane);

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
