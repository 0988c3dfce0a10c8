// Routes the directions of a convolution plan to sgdlab's lane-GEMM kernel: always
// (ConvKernel::LaneGemm) or where it times faster than the cuDNN algorithm that cuDNN's
// own timing chose (ConvKernel::Auto with autotune). A direction taken over is first
// checked against cuDNN on random inputs, so a wrong kernel stops the run instead of
// training on wrong gradients.
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "cuda/cudnn_conv.hpp"

namespace sgdlab {
namespace {

class Timer {
 public:
  Timer() {
    SGDLAB_CUDA_CHECK(cudaEventCreate(&start_));
    if (cudaEventCreate(&stop_) != cudaSuccess) {
      cudaEventDestroy(start_);
      SGDLAB_THROW("CUDA: cudaEventCreate failed");
    }
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;

  // Mean milliseconds of `reps` runs after one untimed run.
  template <class Run>
  float ms(cudaStream_t s, Run run, int reps = 5) {
    run();
    SGDLAB_CUDA_CHECK(cudaEventRecord(start_, s));
    for (int i = 0; i < reps; ++i) run();
    SGDLAB_CUDA_CHECK(cudaEventRecord(stop_, s));
    SGDLAB_CUDA_CHECK(cudaEventSynchronize(stop_));
    float total = 0;
    SGDLAB_CUDA_CHECK(cudaEventElapsedTime(&total, start_, stop_));
    return total / reps;
  }

 private:
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// A device tensor of uniform(-1, 1) values (zeros when `seed` is 0).
struct TuningTensor {
  size_t n;
  TempDeviceBuffer buf;
  TuningTensor(size_t count, uint64_t seed, cudaStream_t s)
      : n(count), buf(count * sizeof(float), s) {
    std::vector<float> host(n, 0.0f);
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<float> u(-1, 1);
    if (seed)
      for (auto& v : host) v = u(rng);
    SGDLAB_CUDA_CHECK(
        cudaMemcpyAsync(buf.get(), host.data(), n * sizeof(float), cudaMemcpyHostToDevice, s));
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(s));  // `host` goes out of scope
  }
  float* get() const { return static_cast<float*>(buf.get()); }
  std::vector<float> download(cudaStream_t s) const {
    std::vector<float> host(n);
    SGDLAB_CUDA_CHECK(
        cudaMemcpyAsync(host.data(), buf.get(), n * sizeof(float), cudaMemcpyDeviceToHost, s));
    SGDLAB_CUDA_CHECK(cudaStreamSynchronize(s));
    return host;
  }
};

double relative_error(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (!std::isfinite(got[i])) return std::numeric_limits<double>::infinity();
    num += (double(got[i]) - want[i]) * (double(got[i]) - want[i]);
    den += double(want[i]) * want[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

}  // namespace

void route_lane_gemm(cudnnHandle_t handle, const ConvDims& d, ConvChoice choice, ConvPlan& p,
                     std::vector<std::string>& warnings) {
  if (choice.kernel == ConvKernel::Cudnn) return;
  if (choice.kernel == ConvKernel::Auto && !choice.autotune) return;
  using cuda::LaneGemmTile;
  if (!choice.autotune) {  // LaneGemm without timing: the square tile of the math mode
    const ConvRoute route{true, choice.tf32 ? LaneGemmTile::M64N64Tf32 : LaneGemmTile::M64N64};
    p.fwd_route = p.data_route = p.filter_route = route;
    return;
  }
  cudaStream_t s = nullptr;
  SGDLAB_CUDNN_CHECK(cudnnGetStream(handle, &s));
  const size_t nx = size_t(d.B) * d.T * d.Cin * d.H * d.W, nw = size_t(d.T) * d.Cout * d.patch(),
               ny = size_t(d.B) * d.T * d.Cout * d.L();
  const TuningTensor x(nx, 1, s), w(nw, 2, s), dy(ny, 3, s), bias(size_t(d.T) * d.Cout, 0, s),
      ours(std::max({nx, nw, ny}), 0, s), theirs(std::max({nx, nw, ny}), 0, s);
  Timer timer;
  // FP32 sums in another order differ by about 1e-6; TF32 products (in cuDNN's kernels
  // or the TF32 tile) by about 2^-11 each.
  const double tol = choice.tf32 ? 5e-3 : 1e-4;
  std::vector<LaneGemmTile> tiles = {LaneGemmTile::M64N64, LaneGemmTile::M32N128};
  if (choice.tf32) tiles.push_back(LaneGemmTile::M64N64Tf32);

  // Times every tile of one direction; takes the direction over with the fastest tile
  // that agrees with cuDNN, when forced or faster than cuDNN. A tile that disagrees is
  // left out and said in a warning.
  auto tune = [&](const char* what, ConvRoute& route, size_t n_out, auto run_ours, auto run_cudnn) {
    std::vector<ConvRoute> timed;
    for (auto tile : tiles) timed.push_back({true, tile, timer.ms(s, [&] { run_ours(tile); })});
    std::sort(timed.begin(), timed.end(),
              [](const ConvRoute& a, const ConvRoute& b) { return a.ms < b.ms; });
    run_cudnn();
    auto want = theirs.download(s);
    want.resize(n_out);
    for (const ConvRoute& candidate : timed) {
      const bool faster = route.ms > 0 && candidate.ms < route.ms;
      if (choice.kernel != ConvKernel::LaneGemm && !faster) return;
      run_ours(candidate.tile);
      auto got = ours.download(s);
      got.resize(n_out);
      const double err = relative_error(got, want);
      if (err <= tol) {
        route = candidate;
        return;
      }
      warnings.push_back(detail::concat(
          "the lane-GEMM convolution ", what, " (tile ", int(candidate.tile),
          ") disagrees with cuDNN for B=", d.B, " T=", d.T, " Cin=", d.Cin, " ", d.H, "x", d.W,
          " Cout=", d.Cout, " k=", d.k, ": relative error ", err, " > ", tol, "; not used"));
    }
  };
  tune(
      "forward", p.fwd_route, ny,
      [&](LaneGemmTile tile) {
        cuda::conv_gemm_forward(s, tile, d, x.get(), w.get(), bias.get(), ours.get());
      },
      [&] { p.cudnn_forward(handle, x.get(), w.get(), theirs.get()); });
  tune(
      "backward-data", p.data_route, nx,
      [&](LaneGemmTile tile) {
        cuda::conv_gemm_backward_data(s, tile, d, w.get(), dy.get(), ours.get());
      },
      [&] { p.cudnn_backward_data(handle, w.get(), dy.get(), theirs.get()); });
  tune(
      "backward-filter", p.filter_route, nw,
      [&](LaneGemmTile tile) {
        cuda::conv_gemm_backward_filter(s, tile, d, x.get(), dy.get(), ours.get());
      },
      [&] { p.cudnn_backward_filter(handle, x.get(), dy.get(), theirs.get()); });
}

}  // namespace sgdlab
