#pragma once
// Row-major GEMM on CBLAS (OpenBLAS), for float (training) and double (gradient checks).
#include <cblas.h>
#include <omp.h>

#include <algorithm>

namespace sgdlab::cpu {

inline void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                 int lda, const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline void gemm(bool trans_a, bool trans_b, int m, int n, int k, double alpha, const double* a,
                 int lda, const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
              trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Splits C's columns across the OpenMP threads, each calling single-threaded BLAS.
// Every element's sum over k runs in one call, so results do not depend on the
// number of threads; small products stay on one thread.
template <class S>
void gemm_parallel(bool trans_a, bool trans_b, int m, int n, int k, S alpha, const S* a, int lda,
                   const S* b, int ldb, S beta, S* c, int ldc) {
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads == 1 || double(m) * n * k < 1.5e6 || n < 32) {
    gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const int id = omp_get_thread_num(), count = omp_get_num_threads();
    const int chunk = ((n + count - 1) / count + 15) / 16 * 16;
    const int n0 = std::min(n, id * chunk), n1 = std::min(n, n0 + chunk);
    if (n1 > n0)
      gemm(trans_a, trans_b, m, n1 - n0, k, alpha, a, lda, trans_b ? b + size_t(n0) * ldb : b + n0,
           ldb, beta, c + n0, ldc);
  }
}

}  // namespace sgdlab::cpu
