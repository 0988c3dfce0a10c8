#include "cuda/cublaslt_dense.hpp"

#include <cstdint>
#include <utility>

#include "cuda/lane_alignment.hpp"

namespace sgdlab {
namespace {

// Owners of the cuBLASLt descriptors; destruction never throws.
struct Layout {
  cublasLtMatrixLayout_t l = nullptr;
  // A column-major rows x cols matrix per lane, lanes `stride` floats apart.
  Layout(uint64_t rows, uint64_t cols, int64_t ld, int lanes, int64_t stride) {
    SGDLAB_CUBLASLT_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, rows, cols, ld));
    const int32_t count = lanes;
    SGDLAB_CUBLASLT_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                           &count, sizeof(count)));
    SGDLAB_CUBLASLT_CHECK(cublasLtMatrixLayoutSetAttribute(
        l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
  }
  ~Layout() {
    if (l) cublasLtMatrixLayoutDestroy(l);
  }
  Layout(const Layout&) = delete;
  Layout& operator=(const Layout&) = delete;
};

struct MatmulDesc {
  cublasLtMatmulDesc_t d = nullptr;
  MatmulDesc(bool tf32, cublasOperation_t trans_b, cublasLtEpilogue_t epilogue,
             int64_t bias_stride) {
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulDescCreate(
        &d, tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F, CUDA_R_32F));
    const int32_t n = CUBLAS_OP_N, t = trans_b;
    const uint32_t e = epilogue;
    SGDLAB_CUBLASLT_CHECK(
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSA, &n, sizeof(n)));
    SGDLAB_CUBLASLT_CHECK(
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_TRANSB, &t, sizeof(t)));
    SGDLAB_CUBLASLT_CHECK(
        cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_EPILOGUE, &e, sizeof(e)));
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(d, CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE,
                                                         &bias_stride, sizeof(bias_stride)));
  }
  ~MatmulDesc() {
    if (d) cublasLtMatmulDescDestroy(d);
  }
  MatmulDesc(const MatmulDesc&) = delete;
  MatmulDesc& operator=(const MatmulDesc&) = delete;
};

// The byte alignment every lane of each operand keeps (lane_alignment.hpp); C is D.
struct OperandAlignment {
  uint32_t a, b, d;
};

struct Preference {
  cublasLtMatmulPreference_t p = nullptr;
  Preference(size_t workspace_bytes, OperandAlignment align) {
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulPreferenceCreate(&p));
    const uint64_t bytes = workspace_bytes;
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(
        p, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bytes, sizeof(bytes)));
    // Without these the heuristic assumes 256-byte aligned matrices and may pick a
    // kernel that reads lanes sgdlab starts on smaller boundaries.
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> alignments[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align.a},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align.b},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align.d},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align.d}};
    for (const auto& [attribute, value] : alignments)
      SGDLAB_CUBLASLT_CHECK(
          cublasLtMatmulPreferenceSetAttribute(p, attribute, &value, sizeof(value)));
    // No split-k reductions across blocks: the same inputs give the same bits.
    const uint32_t none = CUBLASLT_REDUCTION_SCHEME_NONE;
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulPreferenceSetAttribute(
        p, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &none, sizeof(none)));
  }
  ~Preference() {
    if (p) cublasLtMatmulPreferenceDestroy(p);
  }
  Preference(const Preference&) = delete;
  Preference& operator=(const Preference&) = delete;
};

}  // namespace

// One GEMM with its epilogue: D = A op(B) (+ epilogue), per lane.
struct LtDense::Gemm {
  MatmulDesc desc;
  Layout a, b, d;
  OperandAlignment align;
  cublasLtMatmulAlgo_t algo{};
  bool supported = false;

  Gemm(cublasLtHandle_t h, bool tf32, cublasOperation_t trans_b, cublasLtEpilogue_t epilogue,
       int64_t bias_stride, size_t workspace_bytes,
       std::tuple<uint64_t, uint64_t, int64_t, int64_t> A,
       std::tuple<uint64_t, uint64_t, int64_t, int64_t> B,
       std::tuple<uint64_t, uint64_t, int64_t, int64_t> D, int lanes)
      : desc(tf32, trans_b, epilogue, bias_stride),
        a(std::get<0>(A), std::get<1>(A), std::get<2>(A), lanes, std::get<3>(A)),
        b(std::get<0>(B), std::get<1>(B), std::get<2>(B), lanes, std::get<3>(B)),
        d(std::get<0>(D), std::get<1>(D), std::get<2>(D), lanes, std::get<3>(D)),
        align{lane_alignment(kOperandBaseAlignBytes, std::get<3>(A)),
              lane_alignment(kOperandBaseAlignBytes, std::get<3>(B)),
              lane_alignment(kOperandBaseAlignBytes, std::get<3>(D))} {
    Preference pref(workspace_bytes, align);
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    // An epilogue or layout this cuBLASLt cannot do is not an error: the plain path runs.
    const cublasStatus_t st =
        cublasLtMatmulAlgoGetHeuristic(h, desc.d, a.l, b.l, d.l, d.l, pref.p, 1, &result, &found);
    supported = st == CUBLAS_STATUS_SUCCESS && found > 0 && result.state == CUBLAS_STATUS_SUCCESS;
    algo = result.algo;
  }

  // False, running nothing, when an operand is less aligned than the algorithm was
  // chosen for: the caller takes the plain path.
  bool run(cublasLtHandle_t h, cudaStream_t s, const float* A, const float* B, float* D,
           const float* bias_or_grad, void* workspace, size_t workspace_bytes) {
    if (pointer_alignment(A) < align.a || pointer_alignment(B) < align.b ||
        pointer_alignment(D) < align.d)
      return false;
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmulDescSetAttribute(desc.d, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                         &bias_or_grad, sizeof(bias_or_grad)));
    const float one = 1.0f, zero = 0.0f;
    SGDLAB_CUBLASLT_CHECK(cublasLtMatmul(h, desc.d, &one, A, a.l, B, b.l, &zero, D, d.l, D, d.l,
                                         &algo, workspace, workspace_bytes, s));
    return true;
  }
};

// Column-major views, as the cuBLAS path: lane t of x [B, T, in] is in x B with ld T*in
// and lane stride in; W [T, in, out] is out x in with ld out.
struct LtDense::Plan {
  Gemm forward, weight_grad;
  Plan(cublasLtHandle_t h, bool tf32, size_t ws, const DenseDims& dd)
      // Y^T (out x B) = W^T (out x in) X^T (in x B), + bias[t] down each column.
      : forward(h, tf32, CUBLAS_OP_N, CUBLASLT_EPILOGUE_BIAS, dd.out, ws,
                {dd.out, dd.in, dd.out, int64_t(dd.in) * dd.out},
                {dd.in, dd.B, int64_t(dd.T) * dd.in, dd.in},
                {dd.out, dd.B, int64_t(dd.T) * dd.out, dd.out}, dd.T),
        // dW^T (out x in) = dY^T (out x B) X (B x in); db = the sum of dY^T over k = B.
        weight_grad(h, tf32, CUBLAS_OP_T, CUBLASLT_EPILOGUE_BGRADA, dd.out, ws,
                    {dd.out, dd.B, int64_t(dd.T) * dd.out, dd.out},
                    {dd.in, dd.B, int64_t(dd.T) * dd.in, dd.in},
                    {dd.out, dd.in, dd.out, int64_t(dd.in) * dd.out}, dd.T) {}
};

LtDense::LtDense(void* workspace, size_t workspace_bytes, bool tf32)
    : workspace_(workspace), workspace_bytes_(workspace_bytes), tf32_(tf32) {
  SGDLAB_CUBLASLT_CHECK(cublasLtCreate(&handle_));
}

LtDense::~LtDense() {
  plans_.clear();
  if (handle_) cublasLtDestroy(handle_);
}

// Null when cuBLASLt refused a descriptor of this shape: the plain path runs.
LtDense::Plan* LtDense::plan_of(const DenseDims& d) {
  const auto key = std::make_tuple(d.B, d.T, d.in, d.out);
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    std::unique_ptr<Plan> p;
    try {
      p = std::make_unique<Plan>(handle_, tf32_, workspace_bytes_, d);
    } catch (const Error&) {
      p.reset();  // an attribute this cuBLASLt does not know
    }
    it = plans_.emplace(key, std::move(p)).first;
  }
  return it->second.get();
}

bool LtDense::plan(const DenseDims& d) {
  const Plan* p = plan_of(d);
  return p && (p->forward.supported || p->weight_grad.supported);
}

void LtDense::disable(const DenseDims& d) {
  if (Plan* p = plan_of(d)) p->forward.supported = p->weight_grad.supported = false;
}

bool LtDense::forward(cudaStream_t s, const DenseDims& d, const float* x, const float* w,
                      const float* b, float* y) {
  Plan* p = plan_of(d);
  if (!p || !p->forward.supported) return false;
  return p->forward.run(handle_, s, w, x, y, b, workspace_, workspace_bytes_);
}

bool LtDense::weight_grad(cudaStream_t s, const DenseDims& d, const float* x, const float* dy,
                          float* dw, float* db) {
  Plan* p = plan_of(d);
  if (!p || !p->weight_grad.supported) return false;
  return p->weight_grad.run(handle_, s, dy, x, dw, db, workspace_, workspace_bytes_);
}

}  // namespace sgdlab
