#include "cuda/gpu_dense.hpp"

#include <random>

#include "cuda/device_arena.hpp"
#include "cuda/epilogue_check.hpp"
#include "cuda/kernels.hpp"
#include "cuda/lane_alignment.hpp"

namespace sgdlab {

GpuDense::GpuDense(cublasHandle_t cublas, cudaStream_t stream, void* workspace,
                   size_t workspace_bytes, bool tf32, bool epilogues,
                   std::vector<std::string>& warnings)
    : cublas_(cublas), stream_(stream), tf32_(tf32), warnings_(warnings) {
  if (epilogues) lt_ = std::make_unique<LtDense>(workspace, workspace_bytes, tf32);
}

// Row-major lane t of x is column-major (in x B) with ld T*in and lane stride in; so
// Y^T = W^T X^T is one strided-batched GEMM over the lanes.
void GpuDense::forward_plain(const DenseDims& d, const float* x, const float* w, const float* b,
                             float* y) {
  cuda::broadcast_bias(stream_, d.B, d.T, d.out, b, y);
  const float one = 1.0f;
  SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
      cublas_, CUBLAS_OP_N, CUBLAS_OP_N, d.out, d.B, d.in, &one, w, d.out, (long long)d.in * d.out,
      x, d.T * d.in, d.in, &one, y, d.T * d.out, d.out, d.T));
}

void GpuDense::weight_grad_plain(const DenseDims& d, const float* x, const float* dy, float* dw,
                                 float* db) {
  const float one = 1.0f, zero = 0.0f;
  // dW^T (out x in) = dY^T (out x B) * X (B x in)
  SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(cublas_, CUBLAS_OP_N, CUBLAS_OP_T, d.out, d.in, d.B,
                                                &one, dy, d.T * d.out, d.out, x, d.T * d.in, d.in,
                                                &zero, dw, d.out, (long long)d.in * d.out, d.T));
  cuda::bias_grad(stream_, d.B, d.T, d.out, dy, db);
}

void GpuDense::forward(const DenseDims& d, const float* x, const float* w, const float* b,
                       float* y) {
  plan(d);
  if (!lt_ || !lt_->forward(stream_, d, x, w, b, y)) forward_plain(d, x, w, b, y);
}

void GpuDense::backward(const DenseDims& d, const float* x, const float* w, const float* dy,
                        float* dx, float* dw, float* db) {
  plan(d);
  if (!lt_ || !lt_->weight_grad(stream_, d, x, dy, dw, db)) weight_grad_plain(d, x, dy, dw, db);
  if (!dx) return;
  const float one = 1.0f, zero = 0.0f;
  // dX^T (in x B) = W (in x out, i.e. W^T transposed) * dY^T
  SGDLAB_CUBLAS_CHECK(cublasSgemmStridedBatched(
      cublas_, CUBLAS_OP_T, CUBLAS_OP_N, d.in, d.B, d.out, &one, w, d.out, (long long)d.in * d.out,
      dy, d.T * d.out, d.out, &zero, dx, d.T * d.in, d.in, d.T));
}

void GpuDense::plan(const DenseDims& d) {
  if (!lt_ || checked_.count({d.B, d.T, d.in, d.out}) || !lt_->plan(d)) return;
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  SGDLAB_CUDA_CHECK(cudaStreamIsCapturing(stream_, &capture));
  if (capture != cudaStreamCaptureStatusNone) return;  // checked on the next eager use
  checked_.insert({d.B, d.T, d.in, d.out});
  check_epilogues(d);
}

void GpuDense::check_epilogues(const DenseDims& d) {
  // Every tensor starts on a slice boundary, as in training, so that the epilogue path
  // is not turned away for alignment and the check compares what training will run.
  const EpilogueCheckLayout layout = epilogue_check_layout(d);
  const size_t inputs = layout.inputs(), outputs = layout.outputs(), ny = layout.ny, nw = layout.nw,
               nb = layout.nb;
  std::vector<float> host(inputs);
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : host) v = u(rng);
  TempDeviceBuffer buf(sizeof(float) * (inputs + 2 * outputs), stream_);
  float* base = static_cast<float*>(buf.get());
  if (pointer_alignment(base) < kOperandBaseAlignBytes) {  // the check would test nothing
    lt_->disable(d);
    warnings_.push_back(detail::concat("cuBLASLt's bias epilogues for dense ", d.in, "x", d.out,
                                       " not checked (scratch memory less than ",
                                       kOperandBaseAlignBytes, "-byte aligned); not used"));
    return;
  }
  SGDLAB_CUDA_CHECK(
      cudaMemcpyAsync(base, host.data(), sizeof(float) * inputs, cudaMemcpyHostToDevice, stream_));
  const float *x = base, *w = x + layout.nx, *b = w + nw, *dy = b + nb;
  float* epilogue = base + inputs;
  float* plain = epilogue + outputs;
  // The padding between the outputs is never written; zeroed, it cannot differ either.
  SGDLAB_CUDA_CHECK(cudaMemsetAsync(epilogue, 0, sizeof(float) * 2 * outputs, stream_));
  try {
    forward(d, x, w, b, epilogue);
    backward(d, x, w, dy, nullptr, epilogue + ny, epilogue + ny + nw);
  } catch (const Error& e) {  // cuBLASLt planned what it then could not run
    lt_->disable(d);
    warnings_.push_back(detail::concat("cuBLASLt's bias epilogues fail for dense ", d.in, "x",
                                       d.out, " B=", d.B, " T=", d.T, " (", e.what(),
                                       "); not used"));
    return;
  }
  forward_plain(d, x, w, b, plain);
  weight_grad_plain(d, x, dy, plain + ny, plain + ny + nw);
  std::vector<float> got(outputs), want(outputs);
  SGDLAB_CUDA_CHECK(cudaMemcpyAsync(got.data(), epilogue, sizeof(float) * outputs,
                                    cudaMemcpyDeviceToHost, stream_));
  SGDLAB_CUDA_CHECK(cudaMemcpyAsync(want.data(), plain, sizeof(float) * outputs,
                                    cudaMemcpyDeviceToHost, stream_));
  SGDLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  // Two FP32 GEMMs with other blockings differ by about 1e-6; under TF32 by about 1e-3.
  const double err = written_relative_error(layout, got.data(), want.data()),
               tol = tf32_ ? 5e-3 : 1e-4;
  if (err <= tol) return;
  lt_->disable(d);
  warnings_.push_back(detail::concat("cuBLASLt's bias epilogues disagree with cuBLAS for dense ",
                                     d.in, "x", d.out, " B=", d.B, " T=", d.T, ": relative error ",
                                     err, " > ", tol, "; not used"));
}

}  // namespace sgdlab
