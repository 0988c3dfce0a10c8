#pragma once
// Dense layers through cuBLASLt, with the bias in the GEMM's epilogue: the forward GEMM
// adds the bias (no separate broadcast before it), and the weight-gradient GEMM also
// writes the bias gradient (no separate reduction after it). Two launches fewer per
// dense layer and step. Strided-batched over the lanes like the cuBLAS path, on the same
// [B, T, F] layout; a shape whose epilogue cuBLASLt does not support reports so, and
// the caller takes the plain path.
#include <cublasLt.h>

#include <map>
#include <memory>
#include <tuple>

#include "cuda/cuda_check.hpp"
#include "sgdlab/core/op_dims.hpp"

namespace sgdlab {

#define SGDLAB_CUBLASLT_CHECK(expr) SGDLAB_CUBLAS_CHECK(expr)

class LtDense {
 public:
  // `workspace` is shared with the cuBLAS handle: the two run in stream order.
  LtDense(void* workspace, size_t workspace_bytes, bool tf32);
  ~LtDense();
  LtDense(const LtDense&) = delete;
  LtDense& operator=(const LtDense&) = delete;

  // Chooses the algorithms of a shape (host work only; safe while capturing). Returns
  // whether the shape has any epilogue path to check.
  bool plan(const DenseDims& d);
  // Stops using the epilogues for this shape (they disagreed with the plain path).
  void disable(const DenseDims& d);
  // y = x W + b. False when cuBLASLt cannot run this shape's epilogue.
  bool forward(cudaStream_t s, const DenseDims& d, const float* x, const float* w, const float* b,
               float* y);
  // dW = x^T dy and db = the sum of dy over the batch. False as above.
  bool weight_grad(cudaStream_t s, const DenseDims& d, const float* x, const float* dy, float* dw,
                   float* db);

 private:
  struct Gemm;
  struct Plan;
  Plan* plan_of(const DenseDims& d);

  cublasLtHandle_t handle_ = nullptr;
  void* workspace_;
  size_t workspace_bytes_;
  bool tf32_;
  std::map<std::tuple<int, int, int, int>, std::unique_ptr<Plan>> plans_;
};

}  // namespace sgdlab
