#pragma once
// Dense layers on the GPU: cuBLASLt with the bias in the epilogue where it can (and
// where it agrees with the plain path, checked once per shape), else cuBLAS
// strided-batched GEMMs with sgdlab's bias kernels.
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cuda/cublaslt_dense.hpp"

namespace sgdlab {

class GpuDense {
 public:
  // Warnings go to `warnings`, which must outlive this object.
  GpuDense(cublasHandle_t cublas, cudaStream_t stream, void* workspace, size_t workspace_bytes,
           bool tf32, bool epilogues, std::vector<std::string>& warnings);

  // Plans a shape and, outside a capture, checks the epilogue path against the plain
  // one on random inputs once: a disagreement turns the epilogues off for the shape and
  // adds a warning. forward() and backward() plan a shape they have not seen.
  void plan(const DenseDims& d);
  void forward(const DenseDims& d, const float* x, const float* w, const float* b, float* y);
  // dx may be null; dw and db are overwritten.
  void backward(const DenseDims& d, const float* x, const float* w, const float* dy, float* dx,
                float* dw, float* db);

 private:
  void forward_plain(const DenseDims& d, const float* x, const float* w, const float* b, float* y);
  void weight_grad_plain(const DenseDims& d, const float* x, const float* dy, float* dw, float* db);
  void check_epilogues(const DenseDims& d);

  cublasHandle_t cublas_;
  cudaStream_t stream_;
  bool tf32_;
  std::unique_ptr<LtDense> lt_;
  std::set<std::tuple<int, int, int, int>> checked_;
  std::vector<std::string>& warnings_;
};

}  // namespace sgdlab
