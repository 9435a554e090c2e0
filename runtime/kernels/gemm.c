/* Cache-blocked sgemm (GotoBLAS loop order: N blocks, K blocks with B packed, M blocks with
 * A packed, then MR x NR register tiles) and the Gemm kernel. */
#include <string.h>

#include "runtime/kernels/gemm.h"

#define MR 6
#define NR 16
#define MC 96  /* MC x KC A block stays in L2 */
#define KC 256
#define NC 2048 /* KC x NC B panel stays in L3 */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t round_up(int64_t a, int64_t m) { return (a + m - 1) / m * m; }

size_t rt_sgemm_pack_bytes(int64_t M, int64_t N, int64_t K) {
  if (M <= 0 || N <= 0 || K <= 0) return 64;
  int64_t mc = min64(round_up(M, MR), MC), kc = min64(K, KC), nc = min64(round_up(N, NR), NC);
  return rt_align64((size_t)(mc * kc) * sizeof(float)) + (size_t)(kc * nc) * sizeof(float);
}

/* Packs the mc x kc block of A into MR-row panels, p-major: ap[panel][p][i]; rows past mc
 * are zero so the micro-kernel always runs full tiles. */
static void pack_a(int64_t mc, int64_t kc, const float *A, int64_t rsa, int64_t csa, float *ap) {
  for (int64_t i0 = 0; i0 < mc; i0 += MR) {
    int64_t mr = min64(MR, mc - i0);
    if (mr == MR && csa == 1) {
      const float *r[MR];
      for (int i = 0; i < MR; i++) r[i] = A + (i0 + i) * rsa;
      for (int64_t p = 0; p < kc; p++)
        for (int i = 0; i < MR; i++) *ap++ = r[i][p];
    } else {
      for (int64_t p = 0; p < kc; p++) {
        int64_t i = 0;
        for (; i < mr; i++) *ap++ = A[(i0 + i) * rsa + p * csa];
        for (; i < MR; i++) *ap++ = 0.0f;
      }
    }
  }
}

/* Packs the kc x nc block of B into NR-column panels: bp[panel][p][j]. */
static void pack_b(int64_t kc, int64_t nc, const float *B, int64_t rsb, int64_t csb, float *bp) {
  for (int64_t j0 = 0; j0 < nc; j0 += NR) {
    int64_t nr = min64(NR, nc - j0);
    if (nr == NR && csb == 1) {
      for (int64_t p = 0; p < kc; p++) {
        memcpy(bp, B + p * rsb + j0, NR * sizeof(float));
        bp += NR;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        int64_t j = 0;
        for (; j < nr; j++) *bp++ = B[p * rsb + (j0 + j) * csb];
        for (; j < NR; j++) *bp++ = 0.0f;
      }
    }
  }
}

/* The register tile: MR x NR accumulators over kc steps, then
 * C = alpha*acc + (first ? beta*C : C). With GCC the accumulators are written as generic
 * vectors (no intrinsics; AVX2 gives 12 ymm registers for 6x16), elsewhere as scalars. */
#if defined(__GNUC__) && !defined(__clang__)
#define RT_FMA_ATTR __attribute__((optimize("fp-contract=fast")))
#else
#define RT_FMA_ATTR
#endif

#if defined(__GNUC__)
#if defined(__AVX__)
#define VW 8 /* floats per vector register */
#else
#define VW 4
#endif
#define NV (NR / VW)
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

RT_FMA_ATTR static void tile(int64_t kc, const float *restrict a, const float *restrict b,
                             float acc_out[MR][NR]) {
  vf acc[MR][NV];
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) acc[i][v] = (vf){0};
  for (int64_t p = 0; p < kc; p++) {
    vf bv[NV]; /* memcpy: no aliasing or alignment assumptions; compiles to vmovups */
    for (int v = 0; v < NV; v++) memcpy(&bv[v], b + v * VW, sizeof bv[v]);
    for (int i = 0; i < MR; i++) {
      vf ai = (vf){0} + a[i];
      for (int v = 0; v < NV; v++) acc[i][v] += ai * bv[v];
    }
    a += MR;
    b += NR;
  }
  for (int i = 0; i < MR; i++)
    for (int v = 0; v < NV; v++) memcpy(&acc_out[i][v * VW], &acc[i][v], sizeof acc[i][v]);
}
#else
static void tile(int64_t kc, const float *restrict a, const float *restrict b,
                 float acc[MR][NR]) {
  for (int i = 0; i < MR; i++)
    for (int j = 0; j < NR; j++) acc[i][j] = 0.0f;
  for (int64_t p = 0; p < kc; p++) {
    for (int i = 0; i < MR; i++)
      for (int j = 0; j < NR; j++) acc[i][j] += a[i] * b[j];
    a += MR;
    b += NR;
  }
}
#endif

static void micro_kernel(int64_t kc, const float *restrict a, const float *restrict b,
                         float *restrict c, int64_t ldc, int64_t mr, int64_t nr, float alpha,
                         float beta, int first) {
  float acc[MR][NR];
  tile(kc, a, b, acc);
  if (mr == MR && nr == NR) {
    if (!first || beta == 1.0f) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] += alpha * acc[i][j];
    } else if (beta == 0.0f) {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = alpha * acc[i][j];
    } else {
      for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) c[i * ldc + j] = alpha * acc[i][j] + beta * c[i * ldc + j];
    }
    return;
  }
  for (int64_t i = 0; i < mr; i++)
    for (int64_t j = 0; j < nr; j++) {
      float v = alpha * acc[i][j];
      float *cp = &c[i * ldc + j];
      if (!first || beta == 1.0f) *cp += v;
      else if (beta == 0.0f) *cp = v;
      else *cp = v + beta * *cp;
    }
}

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
}

void rt_sgemm(int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t rsa,
              int64_t csa, const float *B, int64_t rsb, int64_t csb, float beta, float *C,
              int64_t ldc, float *pack) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0.0f) {
    if (beta != 1.0f) scale_c(M, N, beta, C, ldc);
    return;
  }
  int64_t mcmax = min64(round_up(M, MR), MC), kcmax = min64(K, KC);
  float *ap = pack;
  float *bp = pack + rt_align64((size_t)(mcmax * kcmax) * sizeof(float)) / sizeof(float);
  for (int64_t jc = 0; jc < N; jc += NC) {
    int64_t nc = min64(NC, N - jc);
    for (int64_t pc = 0; pc < K; pc += KC) {
      int64_t kc = min64(KC, K - pc);
      pack_b(kc, nc, B + pc * rsb + jc * csb, rsb, csb, bp);
      for (int64_t ic = 0; ic < M; ic += MC) {
        int64_t mc = min64(MC, M - ic);
        pack_a(mc, kc, A + ic * rsa + pc * csa, rsa, csa, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          int64_t nr = min64(NR, nc - jr);
          for (int64_t ir = 0; ir < mc; ir += MR) {
            int64_t mr = min64(MR, mc - ir);
            micro_kernel(kc, ap + ir * kc, bp + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc, mr,
                         nr, alpha, beta, pc == 0);
          }
        }
      }
    }
  }
}

ivm_status rt_sgemm_scratch(rt_scratch *scratch, int64_t M, int64_t N, int64_t K, float alpha,
                            const float *A, int64_t rsa, int64_t csa, const float *B,
                            int64_t rsb, int64_t csb, float beta, float *C, int64_t ldc) {
  void *pack;
  IVM_TRY(rt_scratch_get(scratch, rt_sgemm_pack_bytes(M, N, K), &pack));
  rt_sgemm(M, N, K, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, (float *)pack);
  return NULL;
}

/* ---- Gemm --------------------------------------------------------------------------- */
/* Offset of C's element broadcast to (i, j). */
static int64_t c_index(const rt_tensor *c, int64_t i, int64_t j) {
  if (c->rank == 0) return 0;
  if (c->rank == 1) return c->dims[0] == 1 ? 0 : j;
  return (c->dims[0] == 1 ? 0 : i) * c->dims[1] + (c->dims[1] == 1 ? 0 : j);
}

/* Y = alpha * A' @ B' + beta * C for the non-f32 types: a plain loop. Integer products
 * accumulate in the unsigned type of the same width (wrap-around, no UB); the scaled
 * result saturates when converted back. */
#define GEMM_GENERIC(T, ACC, CONV)                                                         \
  static void gemm_##T(const rt_tensor *a, const rt_tensor *b, const rt_tensor *c,          \
                       rt_tensor *y, int ta, int tb, double alpha, double beta) {           \
    int64_t M = y->dims[0], N = y->dims[1], K = ta ? a->dims[0] : a->dims[1];              \
    const T *A = a->data, *B = b->data;                                                     \
    T *Y = y->data;                                                                         \
    int64_t rsa = ta ? 1 : K, csa = ta ? M : 1, rsb = tb ? 1 : N, csb = tb ? K : 1;         \
    for (int64_t i = 0; i < M; i++)                                                         \
      for (int64_t j = 0; j < N; j++) {                                                     \
        ACC s = 0;                                                                          \
        for (int64_t p = 0; p < K; p++)                                                     \
          s += (ACC)A[i * rsa + p * csa] * (ACC)B[p * rsb + j * csb];                       \
        double v = alpha * (double)(T)s;                                                    \
        if (c) v += beta * (double)((const T *)c->data)[c_index(c, i, j)];                  \
        Y[i * N + j] = CONV(v);                                                             \
      }                                                                                     \
  }

static double to_f64(double v) { return v; }
static int32_t to_i32(double v) {
  return !(v > INT32_MIN) ? INT32_MIN : v >= INT32_MAX ? INT32_MAX : (int32_t)v;
}
static int64_t to_i64(double v) {
  return !(v > -9223372036854775808.0) ? INT64_MIN
         : v >= 9223372036854775807.0  ? INT64_MAX
                                       : (int64_t)v;
}
static uint32_t to_u32(double v) { return !(v > 0) ? 0 : v >= UINT32_MAX ? UINT32_MAX : (uint32_t)v; }
static uint64_t to_u64(double v) {
  return !(v > 0) ? 0 : v >= 18446744073709551616.0 ? UINT64_MAX : (uint64_t)v;
}

GEMM_GENERIC(double, double, to_f64)
GEMM_GENERIC(int32_t, uint32_t, to_i32)
GEMM_GENERIC(int64_t, uint64_t, to_i64)
GEMM_GENERIC(uint32_t, uint32_t, to_u32)
GEMM_GENERIC(uint64_t, uint64_t, to_u64)

ivm_status rt_k_Gemm(const rt_call *call) {
  const rt_tensor *a = call->in[0], *b = call->in[1];
  const rt_tensor *c = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *y = call->out[0];
  float alpha = call->attrs[ISA_A_Gemm_alpha].v.f, beta = call->attrs[ISA_A_Gemm_beta].v.f;
  int ta = call->attrs[ISA_A_Gemm_transA].v.i != 0, tb = call->attrs[ISA_A_Gemm_transB].v.i != 0;
  /* Inference guarantees these; re-checked cheaply so a kernel never indexes out of
   * bounds whatever it is handed. */
  if (a->rank != 2 || b->rank != 2 || y->rank != 2 || a->dims[ta ? 0 : 1] != b->dims[tb ? 1 : 0] ||
      y->dims[0] != a->dims[ta ? 1 : 0] || y->dims[1] != b->dims[tb ? 0 : 1])
    return ivm_error(IVM_ERR_RUNTIME, "Gemm: operand shapes do not match");
  if (c) {
    int ok = c->rank <= 2;
    for (int i = 0; ok && i < c->rank; i++) {
      int64_t want = y->dims[2 - c->rank + i];
      ok = c->dims[i] == 1 || c->dims[i] == want;
    }
    if (!ok) return ivm_error(IVM_ERR_RUNTIME, "Gemm: C does not broadcast to the output");
  }
  if (c && beta == 0.0f) c = NULL; /* ONNX: beta * C with beta 0 contributes nothing */
  switch (y->dtype) {
    case IVM_DT_F32: break;
    case IVM_DT_F64: gemm_double(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_I32: gemm_int32_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_I64: gemm_int64_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_U32: gemm_uint32_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    case IVM_DT_U64: gemm_uint64_t(a, b, c, y, ta, tb, alpha, beta); return NULL;
    default:
      return ivm_error(IVM_ERR_UNSUPPORTED, "Gemm: dtype %s not supported",
                       ivm_dtype_name((ivm_dtype)y->dtype));
  }
  int64_t M = y->dims[0], N = y->dims[1], K = ta ? a->dims[0] : a->dims[1];
  float *Y = y->data;
  float b_eff = 0.0f;
  if (c) {
    /* Y = broadcast(C); then Y = alpha*A'B' + beta*Y. */
    const float *C = c->data;
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) Y[i * N + j] = C[c_index(c, i, j)];
    b_eff = beta;
  }
  return rt_sgemm_scratch(call->scratch, M, N, K, alpha, a->data, ta ? 1 : K, ta ? M : 1,
                          b->data, tb ? 1 : N, tb ? K : 1, b_eff, Y, N);
}
