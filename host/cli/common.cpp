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

std::vector<double> parse_list(const std::string& flag, const std::string& text) {
  std::vector<double> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    double v = 0;
    auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || ptr != item.data() + item.size() || !std::isfinite(v))
      SGDLAB_INPUT_ERROR(flag, ": expected a number or a comma-separated list of numbers, got '",
                         text, "'");
    // Every value becomes a float: 1e308 would train as inf.
    if (std::fabs(v) > std::numeric_limits<float>::max())
      SGDLAB_INPUT_ERROR(flag, ": ", item, " is out of the float range (at most ",
                         std::numeric_limits<float>::max(), " in size)");
    out.push_back(v);
    pos = comma + 1;
  }
  return out;
}

namespace {

// One decimal integer of `text` (all of it, or an item of its list); `expected` says what
// the flag takes, for the message.
uint64_t parse_uint_item(const std::string& flag, const std::string& item, const std::string& text,
                         const char* expected) {
  uint64_t v = 0;
  auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
  if (ec == std::errc::result_out_of_range)
    SGDLAB_INPUT_ERROR(flag, ": expected at most 18446744073709551615, got '", text, "'");
  if (item.empty() || item[0] == '-' || item[0] == '+' || ec != std::errc() ||
      ptr != item.data() + item.size())
    SGDLAB_INPUT_ERROR(flag, ": expected ", expected, ", got '", text, "'");
  return v;
}

}  // namespace

std::vector<uint64_t> parse_uint_list(const std::string& flag, const std::string& text) {
  std::vector<uint64_t> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    out.push_back(parse_uint_item(flag, text.substr(pos, comma - pos), text,
                                  "non-negative integers (a comma-separated list)"));
    pos = comma + 1;
  }
  return out;
}

uint64_t parse_uint(const std::string& flag, const std::string& text) {
  return parse_uint_item(flag, text, text, "one non-negative integer");
}

template <class T>
std::vector<T> broadcast_list(const std::string& flag, const std::vector<T>& v, size_t lanes) {
  if (v.size() == lanes) return v;
  if (v.size() == 1) return std::vector<T>(lanes, v[0]);
  SGDLAB_INPUT_ERROR(flag, ": has ", v.size(), " values but the pack has ", lanes,
                     " lanes (give one value or one per lane)");
}
template std::vector<uint64_t> broadcast_list(const std::string&, const std::vector<uint64_t>&,
                                              size_t);

std::vector<double> broadcast(const std::string& flag, const std::vector<double>& v, size_t lanes) {
  return broadcast_list(flag, v, lanes);
}

Augment parse_augment(const std::string& text) {
  Augment a;
  bool sigma_given = false;
  if (text.empty() || text == "none") return a;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    if (comma == std::string::npos) comma = text.size();
    const std::string item = text.substr(pos, comma - pos);
    const size_t eq = item.find('=');
    const std::string key = item.substr(0, eq);
    float* field = key == "shift"    ? &a.shift
                   : key == "rotate" ? &a.rotate
                   : key == "scale"  ? &a.scale
                   : key == "alpha"  ? &a.elastic_alpha
                   : key == "sigma"  ? &a.elastic_sigma
                                     : nullptr;
    if (!field || eq == std::string::npos)
      SGDLAB_INPUT_ERROR("--augment: expected shift=PIXELS,rotate=DEGREES,scale=FRACTION,",
                         "alpha=PIXELS,sigma=PIXELS (any of them), got '", text, "'");
    const auto v = parse_list("--augment " + key, item.substr(eq + 1));
    if (v.size() != 1) SGDLAB_INPUT_ERROR("--augment ", key, ": expected one number");
    *field = float(v[0]);
    sigma_given = sigma_given || field == &a.elastic_sigma;
    pos = comma + 1;
  }
  if (a.elastic() && !sigma_given)
    SGDLAB_INPUT_ERROR("--augment alpha: give the smoothing too, sigma=PIXELS (Simard et al. ",
                       "used sigma=4 with alpha=34 on 28-pixel digits)");
  return a;
}

void parse_init(const std::string& text, LaneSettings& lane) {
  if (text == "xavier") {
    lane.init = InitKind::Xavier;
    return;
  }
  // uniform:LOW:HIGH
  if (text.rfind("uniform:", 0) == 0) {
    const auto rest = text.substr(8);
    const auto colon = rest.find(':');
    if (colon != std::string::npos) {
      const auto low = parse_list("--init", rest.substr(0, colon));
      const auto high = parse_list("--init", rest.substr(colon + 1));
      if (low.size() == 1 && high.size() == 1) {
        lane.init = InitKind::Uniform;
        lane.init_low = float(low[0]);
        lane.init_high = float(high[0]);
        return;
      }
    }
  }
  SGDLAB_INPUT_ERROR("--init: expected 'xavier' or 'uniform:LOW:HIGH', got '", text, "'");
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
