#pragma once
// SGDLAB_HD marks small functions that run both on the host (the CPU backend, tests) and
// inside CUDA kernels, so that both compute the same thing from one body.
#if defined(__CUDACC__)
#define SGDLAB_HD __host__ __device__ __forceinline__
#else
#define SGDLAB_HD inline
#endif
