#pragma once
// Every CUDA, cuBLAS and cuDNN return code is checked, and the last error after each
// kernel launch; a failure is an sgdlab::Error naming the call.
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "sgdlab/core/error.hpp"

#define SGDLAB_CUDA_CHECK(expr)                                                    \
  do {                                                                             \
    const cudaError_t sgdlab_err_ = (expr);                                        \
    if (sgdlab_err_ != cudaSuccess)                                                \
      SGDLAB_THROW("CUDA: ", #expr, " failed: ", cudaGetErrorString(sgdlab_err_)); \
  } while (0)

#define SGDLAB_CUBLAS_CHECK(expr)                                                      \
  do {                                                                                 \
    const cublasStatus_t sgdlab_st_ = (expr);                                          \
    if (sgdlab_st_ != CUBLAS_STATUS_SUCCESS)                                           \
      SGDLAB_THROW("cuBLAS: ", #expr, " failed: ", cublasGetStatusString(sgdlab_st_)); \
  } while (0)

#define SGDLAB_CUDNN_CHECK(expr)                                                    \
  do {                                                                              \
    const cudnnStatus_t sgdlab_st_ = (expr);                                        \
    if (sgdlab_st_ != CUDNN_STATUS_SUCCESS)                                         \
      SGDLAB_THROW("cuDNN: ", #expr, " failed: ", cudnnGetErrorString(sgdlab_st_)); \
  } while (0)

// After every kernel launch: a bad configuration shows up here, not later.
#define SGDLAB_LAUNCH_CHECK() SGDLAB_CUDA_CHECK(cudaGetLastError())
