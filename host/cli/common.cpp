#include "common.hpp"

#include <signal.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <iostream>
#include <limits>

#include "sgdlab/core/error.hpp"
#include "sgdlab/engine/datasets.hpp"
#include "sgdlab/engine/devices.hpp"
#include "sgdlab/engine/lane_options.hpp"

namespace sgdlab::cli {

namespace {
volatile sig_atomic_t g_stop_signal = 0;
struct sigaction g_old_int {
}, g_old_term{};
extern "C" void on_stop_signal(int signal) {
  g_stop_signal = signal;
}
}  // namespace

StopSignals::StopSignals() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  // SA_RESETHAND: a second signal stops the process at once. SA_RESTART: a write under
  // way goes on rather than fail with EINTR.
  action.sa_flags = SA_RESETHAND | SA_RESTART;
  sigaction(SIGINT, &action, &g_old_int);
  sigaction(SIGTERM, &action, &g_old_term);
  // A signal ignored when sgdlab started (nohup, `cmd &` in a script) stays ignored.
  if (g_old_int.sa_handler == SIG_IGN) sigaction(SIGINT, &g_old_int, nullptr);
  if (g_old_term.sa_handler == SIG_IGN) sigaction(SIGTERM, &g_old_term, nullptr);
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
}

int StopSignals::received() {
  return g_stop_signal;
}

const char* StopSignals::name(int signal) {
  return signal == SIGINT ? "SIGINT" : "SIGTERM";
}

std::unique_ptr<Backend> make_backend(const std::string& device, const BackendOptions& options) {
  auto backend = sgdlab::make_backend(device, &std::cerr, options);
  if (backend->device() == Device::Cpu &&
      (options.tf32 || options.autotune || options.conv_kernel != ConvKernel::Auto))
    std::cerr << "sgdlab: --tf32, --autotune and --conv-kernel apply to the GPU only; the CPU "
                 "computes in FP32 with its own kernels"
              << std::endl;
  return backend;
}

void print_warnings(Backend& backend) {
  for (const auto& w : backend.take_warnings()) std::cerr << "sgdlab: warning: " << w << std::endl;
}

void add_gpu_math_options(CLI::App& app, BackendOptions& options) {
  app.add_flag("--tf32", options.tf32,
               "GPU: TF32 tensor cores for GEMMs and convolutions (default: FP32)");
  app.add_flag("--autotune", options.autotune,
               "GPU: time cuDNN's deterministic convolution algorithms per shape and keep the "
               "fastest (the choice may differ between runs)");
  app.add_option_function<std::string>(
         "--conv-kernel",
         [&options](const std::string& v) {
           options.conv_kernel = v == "cudnn"       ? ConvKernel::Cudnn
                                 : v == "lane-gemm" ? ConvKernel::LaneGemm
                                                    : ConvKernel::Auto;
         },
         "GPU convolutions: auto (cuDNN; with --autotune also sgdlab's lane-GEMM kernel where "
         "faster), cudnn, or lane-gemm")
      ->check(CLI::IsMember({"auto", "cudnn", "lane-gemm"}))
      ->default_str("auto");
}

void add_device_option(CLI::App& app, std::string& device) {
  app.add_option("--device", device, "cpu, cuda, or auto (CUDA when a GPU is usable)")
      ->default_val("auto");
}

void add_data_options(CLI::App& app, DataOptions& options) {
  app.add_option("--data", options.dir,
                 "the data: a folder with USPS files (zip.train.gz, zip.test.gz) or IDX files "
                 "(train-images-idx3-ubyte, ...), or a .npz file (default: the shipped USPS)");
  app.add_option("--format", options.format, "auto (recognised from --data), usps, idx or npz")
      ->check(CLI::IsMember({"auto", "usps", "idx", "npz"}))
      ->default_val("auto");
  app.add_option_function<std::string>(
         "--layout", [&options](const std::string& v) { options.nhwc = v == "nhwc"; },
         "npz images with channels: nchw ([N, C, H, W]) or nhwc ([N, H, W, C])")
      ->check(CLI::IsMember({"nchw", "nhwc"}))
      ->default_str("nchw");
  app.add_option_function<std::string>(
         "--normalize", [&options](const std::string& v) { options.standard = v == "standard"; },
         "none (uint8 pixels scaled to [0, 1]; USPS as it is) or standard (minus the training "
         "set's mean, over its standard deviation, per channel)")
      ->check(CLI::IsMember({"none", "standard"}))
      ->default_str("none");
}

UspsData load_data(const DataOptions& options) {
  UspsData data = load_dataset(options);
  if (data.downloaded)
    std::cerr << "sgdlab: downloaded the USPS data into " << data.source
              << " (checked against data/usps.sha256)" << std::endl;
  return data;
}

std::string default_out_dir(const std::string& what) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + what + "-" + stamp;
}

}  // namespace sgdlab::cli
