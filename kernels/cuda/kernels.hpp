#pragma once
// Launchers of sgdlab's custom CUDA kernels. Each takes the stream explicitly and
// checks its launch. The CPU references are the same-named ops in kernels/cpu.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "sgdlab/core/adam_update.hpp"
#include "sgdlab/core/augment.hpp"
#include "sgdlab/core/op_dims.hpp"
#include "sgdlab/core/rate_schedule.hpp"

namespace sgdlab::cuda {

// Elementwise and small helpers.
void activation_forward(cudaStream_t s, Activation a, size_t n, const float* x, float* y);
void activation_backward(cudaStream_t s, Activation a, size_t n, const float* y, const float* dy,
                         float* dx);
// y[r, t, o] = bias[t, o] for every row r (before a GEMM with beta = 1).
void broadcast_bias(cudaStream_t s, int rows, int T, int out, const float* bias, float* y);
// db[t, o] = sum over r of dy[r, t, o], in a fixed order.
void bias_grad(cudaStream_t s, int rows, int T, int out, const float* dy, float* db);

void dropout(cudaStream_t s, const DropoutDims& d, const float* rate, const uint64_t* seed,
             const int64_t* counters, const float* in, float* out);

// Max-pool, and ReLU + max-pool fused (maxpool.cu): one tie rule, the CPU's first
// maximum. Backward reads the (pre-ReLU) input and overwrites dx.
void maxpool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y);
void maxpool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy,
                      float* dx);
void relu_maxpool_forward(cudaStream_t s, const PoolDims& d, const float* x, float* y);
void relu_maxpool_backward(cudaStream_t s, const PoolDims& d, const float* x, const float* dy,
                           float* dx);

// Activation + dropout fused (fused.cu), equal to the two ops in turn.
void activation_dropout_forward(cudaStream_t s, Activation a, const DropoutDims& d,
                                const float* rate, const uint64_t* seed, const int64_t* counters,
                                const float* x, float* act, float* y);
void activation_dropout_backward(cudaStream_t s, Activation a, const DropoutDims& d,
                                 const float* rate, const uint64_t* seed, const int64_t* counters,
                                 const float* act, const float* dy, float* dx);

// strength: [T * kAugmentFields] (sgdlab/core/augment.hpp); the step from
// counters[kCounterGlobalStep]. rows: B * T * H * W displacements of scratch, used when
// d.elastic.
void augment(cudaStream_t s, const AugmentDims& d, const float* strength, const uint64_t* seed,
             const int64_t* counters, float background, const float* x, float* y,
             Displacement* rows);

void softmax_xent(cudaStream_t s, const XentDims& d, const float* logits, const int32_t* labels,
                  float* dlogits, float* row_loss, float* row_correct, float* loss_sum,
                  float* correct, LaneState* state);
void softmax(cudaStream_t s, const XentDims& d, const float* logits, float* probs);

// Also advances the step counters when not null (block 0, thread 0).
void sgd_momentum(cudaStream_t s, const FlatDims& d, const LaneArrays& lanes, float* params,
                  const float* grads, float* velocity, int64_t* counters);

void avgpool_forward(cudaStream_t s, const AvgPoolDims& d, const float* x, float* y);
void avgpool_backward(cudaStream_t s, const AvgPoolDims& d, const float* dy, float* dx);

// state: [T] (null: every lane trains); see Backend::batchnorm_forward.
void batchnorm_forward(cudaStream_t s, const BatchNormDims& d, bool training,
                       const LaneState* state, const BatchNormTensors& p, const float* x, float* y);
void batchnorm_backward(cudaStream_t s, const BatchNormDims& d, const float* x, const float* gamma,
                        const float* dy, float* dx, float* dgamma, float* dbeta);

// Also advances the step counters. factors: scratch for d.T AdamFactors.
void adam_update(cudaStream_t s, const AdamDims& d, const LaneArrays& lanes, float* params,
                 const float* grads, float* m, float* v, int64_t* counters, AdamFactors* factors);

void ema_update(cudaStream_t s, const FlatDims& d, const LaneArrays& lanes, const int64_t* counters,
                const float* params, float* average);

void scheduled_rates(cudaStream_t s, int T, const RateSchedule* schedules, const int64_t* counters,
                     float* lr);

// partial: n_slices * T * 2 floats of scratch; done: a counter that is 0 between launches
// (the kernel leaves it so), used by one launch at a time.
void grad_stats(cudaStream_t s, const ParamSlice* slices, int n_slices, int n_layers, int T,
                const float* grads, float* partial, float* accum, unsigned* done);

void gather(cudaStream_t s, const GatherDims& d, const float* data, const int32_t* labels,
            const uint32_t* perm, const int64_t* counters, float* x, int32_t* y);
// keys[t * n + i] = the Philox shuffle key of index i for lane t; values[t * n + i] = i.
void shuffle_keys(cudaStream_t s, int T, int n, const uint64_t* seeds, uint32_t epoch,
                  uint32_t* keys, uint32_t* values);

void local2d_forward(cudaStream_t s, const ConvDims& d, const float* x, const float* w,
                     const float* b, float* y);
void local2d_backward_data(cudaStream_t s, const ConvDims& d, const float* w, const float* dy,
                           float* dx);
void local2d_backward_weight(cudaStream_t s, const ConvDims& d, const float* x, const float* dy,
                             float* dw, float* db);

// The lane-GEMM convolution (conv_gemm.cu): T implicit GEMMs in one launch, C tiles of
// the given shape (FP32 FMA, or TF32 tensor cores). Forward adds the bias;
// backward-data and backward-filter overwrite.
enum class LaneGemmTile { M64N64, M32N128, M64N64Tf32 };
void conv_gemm_forward(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* x,
                       const float* w, const float* bias, float* y);
void conv_gemm_backward_data(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* w,
                             const float* dy, float* dx);
void conv_gemm_backward_filter(cudaStream_t s, LaneGemmTile tile, const ConvDims& d, const float* x,
                               const float* dy, float* dw);

}  // namespace sgdlab::cuda
