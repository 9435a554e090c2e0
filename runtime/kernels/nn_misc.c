/* nn family kernels that rearrange or normalise: DepthToSpace, SpaceToDepth, MaxUnpool,
 * LRN, InstanceNormalization, MeanVarianceNormalization, GlobalMaxPool, GlobalLpPool,
 * LpNormalization and LpPool. Float kernels cover f32 and f64 and accumulate in
 * double. */
#include <math.h>
#include <string.h>

#include "isa/infer_linalg.h"
#include "runtime/rt.h"

static ivm_status bad_dtype(const char *op, int dt) {
  return ivm_error(IVM_ERR_UNSUPPORTED, "%s: dtype %s not supported", op,
                   ivm_dtype_name((ivm_dtype)dt));
}

/* ---- DepthToSpace / SpaceToDepth ----------------------------------------------------
 * Both are a gather y[n][c'][h'][w'] = x[n][src_c][h][w]; `d2s` picks the direction. */
#define MOVE(T)                                                                             \
  static void d2s_##T(const T *x, T *y, int64_t N, int64_t C, int64_t H, int64_t W,        \
                      int64_t b, int crd) {                                                \
    int64_t Co = C / (b * b), Ho = H * b, Wo = W * b;                                       \
    for (int64_t n = 0; n < N; n++)                                                         \
      for (int64_t c = 0; c < Co; c++)                                                      \
        for (int64_t ho = 0; ho < Ho; ho++) {                                               \
          int64_t h = ho / b, i = ho % b;                                                   \
          T *yr = y + ((n * Co + c) * Ho + ho) * Wo;                                        \
          for (int64_t wo = 0; wo < Wo; wo++) {                                             \
            int64_t w = wo / b, j = wo % b;                                                 \
            int64_t sc = crd ? c * b * b + i * b + j : (i * b + j) * Co + c;                \
            yr[wo] = x[((n * C + sc) * H + h) * W + w];                                     \
          }                                                                                 \
        }                                                                                   \
  }                                                                                         \
  static void s2d_##T(const T *x, T *y, int64_t N, int64_t C, int64_t H, int64_t W,        \
                      int64_t b) {                                                         \
    int64_t Ho = H / b, Wo = W / b, Co = C * b * b;                                         \
    for (int64_t n = 0; n < N; n++)                                                         \
      for (int64_t oc = 0; oc < Co; oc++) {                                                 \
        int64_t c = oc % C, ij = oc / C, i = ij / b, j = ij % b;                            \
        for (int64_t ho = 0; ho < Ho; ho++) {                                               \
          T *yr = y + ((n * Co + oc) * Ho + ho) * Wo;                                       \
          const T *xr = x + ((n * C + c) * H + ho * b + i) * W + j;                         \
          for (int64_t wo = 0; wo < Wo; wo++) yr[wo] = xr[wo * b];                          \
        }                                                                                   \
      }                                                                                     \
  }

MOVE(uint8_t)
MOVE(uint16_t)
MOVE(uint32_t)
MOVE(uint64_t)

static ivm_status space_depth(const rt_call *call, int to_space) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int64_t b = call->attrs[0].v.i;
  if (x->rank != 4 || y->rank != 4 || b < 1)
    return ivm_error(IVM_ERR_RUNTIME, "DepthToSpace / SpaceToDepth: bad operands");
  int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
  int crd = 0;
  if (to_space) {
    const char *m = call->attrs[ISA_A_DepthToSpace_mode].v.s;
    crd = m && !strcmp(m, "CRD");
    if (C % (b * b) || y->dims[1] != C / (b * b) || y->dims[2] != H * b || y->dims[3] != W * b)
      return ivm_error(IVM_ERR_RUNTIME, "DepthToSpace: output shape mismatch");
  } else if (H % b || W % b || y->dims[1] != C * b * b || y->dims[2] != H / b ||
             y->dims[3] != W / b) {
    return ivm_error(IVM_ERR_RUNTIME, "SpaceToDepth: output shape mismatch");
  }
  if (y->dims[0] != N) return ivm_error(IVM_ERR_RUNTIME, "output shape mismatch");
  switch (ivm_dtype_size((ivm_dtype)x->dtype)) {
#define CASE(sz, T)                                                        \
  case sz:                                                                 \
    if (to_space) d2s_##T(x->data, y->data, N, C, H, W, b, crd);           \
    else s2d_##T(x->data, y->data, N, C, H, W, b);                         \
    return NULL;
    CASE(1, uint8_t)
    CASE(2, uint16_t)
    CASE(4, uint32_t)
    CASE(8, uint64_t)
#undef CASE
    default: return bad_dtype(to_space ? "DepthToSpace" : "SpaceToDepth", x->dtype);
  }
}

ivm_status rt_k_DepthToSpace(const rt_call *call) { return space_depth(call, 1); }
ivm_status rt_k_SpaceToDepth(const rt_call *call) { return space_depth(call, 0); }

/* ---- MaxUnpool: Y = 0; Y[coords(I[i])] = X[i] -------------------------------------
 * I holds flat indices into the tensor MaxPool's input had, whose spatial dims are the
 * default (x - 1) * stride + kernel - pads. With an explicit (larger) output_shape each
 * index is split into coordinates in that default shape and placed at the same
 * coordinates of Y (as ONNX's reference and PyTorch's max_unpool). */
ivm_status rt_k_MaxUnpool(const rt_call *call) {
  const rt_tensor *x = call->in[0], *ind = call->in[1];
  rt_tensor *y = call->out[0];
  const isa_attr *at = call->attrs;
  int64_t n = rt_numel(x), ny = rt_numel(y);
  int rank = x->rank, ns = rank - 2;
  if (rt_numel(ind) != n) return ivm_error(IVM_ERR_RUNTIME, "MaxUnpool: I must have X's shape");
  size_t es = ivm_dtype_size((ivm_dtype)x->dtype);
  if (!es || y->dtype != x->dtype) return bad_dtype("MaxUnpool", x->dtype);
  const isa_attr *ks = &at[ISA_A_MaxUnpool_kernel_shape], *ss = &at[ISA_A_MaxUnpool_strides];
  const isa_attr *ps = &at[ISA_A_MaxUnpool_pads];
  if (ns < 1 || y->rank != rank || (int)ks->count != ns)
    return ivm_error(IVM_ERR_RUNTIME, "MaxUnpool: bad operand ranks");
  int64_t dd[ISA_MAX_RANK], def_total = 1;
  int same = 1;
  for (int d = 0; d < rank; d++) {
    if (d < 2) {
      dd[d] = x->dims[d];
    } else {
      int i = d - 2;
      int64_t s = ss->count == (uint32_t)ns ? ss->v.ints[i] : 1;
      int64_t pb = ps->count == (uint32_t)(2 * ns) ? ps->v.ints[i] + ps->v.ints[ns + i] : 0;
      dd[d] = x->dims[d] ? (x->dims[d] - 1) * s + ks->v.ints[i] - pb : 0;
      if (dd[d] < 0) dd[d] = 0;
    }
    def_total *= dd[d];
    if (dd[d] != y->dims[d]) same = 0;
  }
  memset(y->data, 0, (size_t)ny * es);
  const int64_t *I = ind->data;
  const char *X = x->data;
  char *Y = y->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t idx = I[i];
    if (idx < 0 || idx >= (same ? ny : def_total))
      return ivm_error(IVM_ERR_RUNTIME, "MaxUnpool: index %lld out of range", (long long)idx);
    if (!same) {
      int64_t c[ISA_MAX_RANK], rem = idx, flat = 0;
      for (int d = rank - 1; d >= 0; d--) {
        c[d] = rem % dd[d];
        rem /= dd[d];
      }
      for (int d = 0; d < rank; d++) {
        if (c[d] >= y->dims[d])
          return ivm_error(IVM_ERR_RUNTIME, "MaxUnpool: index %lld outside output_shape",
                           (long long)idx);
        flat = flat * y->dims[d] + c[d];
      }
      idx = flat;
    }
    memcpy(Y + (size_t)idx * es, X + (size_t)i * es, es);
  }
  return NULL;
}

/* ---- LRN --------------------------------------------------------------------------- */
#define LRN(T)                                                                              \
  static void lrn_##T(const T *x, T *y, int64_t N, int64_t C, int64_t S, int64_t size,     \
                      double alpha, double beta, double bias) {                            \
    int64_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;                            \
    for (int64_t n = 0; n < N; n++)                                                         \
      for (int64_t c = 0; c < C; c++) {                                                     \
        int64_t lo = c - lo_off < 0 ? 0 : c - lo_off;                                       \
        int64_t hi = c + hi_off >= C ? C - 1 : c + hi_off;                                  \
        for (int64_t s = 0; s < S; s++) {                                                   \
          double sq = 0;                                                                    \
          for (int64_t k = lo; k <= hi; k++) {                                              \
            double v = x[(n * C + k) * S + s];                                              \
            sq += v * v;                                                                    \
          }                                                                                 \
          int64_t i = (n * C + c) * S + s;                                                  \
          y[i] = (T)((double)x[i] / pow(bias + alpha / (double)size * sq, beta));           \
        }                                                                                   \
      }                                                                                     \
  }
LRN(float)
LRN(double)

ivm_status rt_k_LRN(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  if (x->rank < 2) return ivm_error(IVM_ERR_RUNTIME, "LRN: rank < 2");
  int64_t N = x->dims[0], C = x->dims[1], S = rt_shape_numel(x->rank - 2, x->dims + 2);
  const isa_attr *at = call->attrs;
  int64_t size = at[ISA_A_LRN_size].v.i;
  double alpha = at[ISA_A_LRN_alpha].v.f, beta = at[ISA_A_LRN_beta].v.f, bias = at[ISA_A_LRN_bias].v.f;
  if (size < 1) return ivm_error(IVM_ERR_RUNTIME, "LRN: size < 1");
  switch (x->dtype) {
    case IVM_DT_F32: lrn_float(x->data, call->out[0]->data, N, C, S, size, alpha, beta, bias); return NULL;
    case IVM_DT_F64: lrn_double(x->data, call->out[0]->data, N, C, S, size, alpha, beta, bias); return NULL;
    default: return bad_dtype("LRN", x->dtype);
  }
}

/* ---- InstanceNormalization ---------------------------------------------------------- */
#define INORM(T)                                                                            \
  static void inorm_##T(const T *x, const T *sc, const T *b, T *y, int64_t N, int64_t C,   \
                        int64_t S, double eps) {                                           \
    for (int64_t n = 0; n < N; n++)                                                         \
      for (int64_t c = 0; c < C; c++) {                                                     \
        const T *xp = x + (n * C + c) * S;                                                  \
        T *yp = y + (n * C + c) * S;                                                        \
        double sum = 0, sq = 0;                                                             \
        for (int64_t s = 0; s < S; s++) sum += xp[s];                                       \
        double mean = S ? sum / (double)S : 0;                                              \
        for (int64_t s = 0; s < S; s++) sq += ((double)xp[s] - mean) * ((double)xp[s] - mean); \
        double var = S ? sq / (double)S : 0;                                                \
        double k = (double)sc[c] / sqrt(var + eps);                                         \
        for (int64_t s = 0; s < S; s++) yp[s] = (T)(((double)xp[s] - mean) * k + (double)b[c]); \
      }                                                                                     \
  }
INORM(float)
INORM(double)

ivm_status rt_k_InstanceNormalization(const rt_call *call) {
  const rt_tensor *x = call->in[0], *sc = call->in[1], *b = call->in[2];
  if (x->rank < 2) return ivm_error(IVM_ERR_RUNTIME, "InstanceNormalization: rank < 2");
  int64_t N = x->dims[0], C = x->dims[1], S = rt_shape_numel(x->rank - 2, x->dims + 2);
  if (rt_numel(sc) != C || rt_numel(b) != C)
    return ivm_error(IVM_ERR_RUNTIME, "InstanceNormalization: scale / B length mismatch");
  double eps = call->attrs[ISA_A_InstanceNormalization_epsilon].v.f;
  switch (x->dtype) {
    case IVM_DT_F32: inorm_float(x->data, sc->data, b->data, call->out[0]->data, N, C, S, eps); return NULL;
    case IVM_DT_F64: inorm_double(x->data, sc->data, b->data, call->out[0]->data, N, C, S, eps); return NULL;
    default: return bad_dtype("InstanceNormalization", x->dtype);
  }
}

/* ---- MeanVarianceNormalization ------------------------------------------------------
 * Each element belongs to the group given by its coordinates on the kept axes; one pass
 * sums x and x^2 per group, a second writes (x - mean) / (sqrt(E[x^2] - mean^2) + 1e-9). */
static void mvn_groups(int rank, const int64_t *dims, const int *reduced, int64_t *gstride) {
  int64_t acc = 1;
  for (int d = rank - 1; d >= 0; d--) {
    gstride[d] = reduced[d] ? 0 : acc;
    if (!reduced[d]) acc *= dims[d];
  }
}

#define MVN(T)                                                                              \
  static void mvn_##T(const T *x, T *y, int rank, const int64_t *dims, const int64_t *gs,  \
                      int64_t total, int64_t groups, int64_t per, double *acc) {           \
    memset(acc, 0, (size_t)groups * 2 * sizeof(double));                                   \
    for (int pass = 0; pass < 2; pass++) {                                                  \
      int64_t idx[ISA_MAX_RANK] = {0}, g = 0;                                               \
      for (int64_t e = 0; e < total; e++) {                                                 \
        double v = x[e];                                                                    \
        if (pass == 0) {                                                                    \
          acc[2 * g] += v;                                                                  \
          acc[2 * g + 1] += v * v;                                                          \
        } else {                                                                            \
          double mean = acc[2 * g] / (double)per;                                           \
          double var = acc[2 * g + 1] / (double)per - mean * mean;                          \
          if (var < 0) var = 0;                                                             \
          y[e] = (T)((v - mean) / (sqrt(var) + 1e-9));                                      \
        }                                                                                   \
        for (int d = rank - 1; d >= 0; d--) {                                               \
          g += gs[d];                                                                       \
          if (++idx[d] < dims[d]) break;                                                    \
          g -= gs[d] * dims[d];                                                             \
          idx[d] = 0;                                                                       \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }
MVN(float)
MVN(double)

ivm_status rt_k_MeanVarianceNormalization(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  const isa_attr *ax = &call->attrs[ISA_A_MeanVarianceNormalization_axes];
  int rank = x->rank, reduced[ISA_MAX_RANK] = {0};
  static const int64_t def_axes[] = {0, 2, 3};
  const int64_t *axes = def_axes;
  uint32_t na = 3;
  if (ax->type == ISA_ATTR_INTS && ax->count > 0) {
    axes = ax->v.ints;
    na = ax->count;
  }
  for (uint32_t i = 0; i < na; i++) {
    int64_t a = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (a < 0 || a >= rank) return ivm_error(IVM_ERR_RUNTIME, "MeanVarianceNormalization: bad axes");
    reduced[a] = 1;
  }
  int64_t total = rt_numel(x), groups = 1, per = 1, gs[ISA_MAX_RANK];
  for (int d = 0; d < rank; d++) {
    if (reduced[d]) per *= x->dims[d];
    else groups *= x->dims[d];
  }
  if (total == 0) return NULL;
  mvn_groups(rank, x->dims, reduced, gs);
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)groups * 2 * sizeof(double), &mem));
  switch (x->dtype) {
    case IVM_DT_F32: mvn_float(x->data, call->out[0]->data, rank, x->dims, gs, total, groups, per, mem); return NULL;
    case IVM_DT_F64: mvn_double(x->data, call->out[0]->data, rank, x->dims, gs, total, groups, per, mem); return NULL;
    default: return bad_dtype("MeanVarianceNormalization", x->dtype);
  }
}

/* ---- GlobalMaxPool / GlobalLpPool -------------------------------------------------- */
#define GPOOL(T)                                                                            \
  static void gmax_##T(const T *x, T *y, int64_t planes, int64_t sz) {                     \
    for (int64_t pl = 0; pl < planes; pl++) {                                               \
      const T *xp = x + pl * sz;                                                            \
      T m = sz ? xp[0] : (T)0;                                                              \
      for (int64_t i = 1; i < sz; i++) m = (xp[i] > m || xp[i] != xp[i]) && m == m ? xp[i] : m; \
      y[pl] = m;                                                                            \
    }                                                                                       \
  }                                                                                         \
  static void glp_##T(const T *x, T *y, int64_t planes, int64_t sz, int64_t p) {           \
    for (int64_t pl = 0; pl < planes; pl++) {                                               \
      double s = 0;                                                                         \
      for (int64_t i = 0; i < sz; i++) s += pow(fabs((double)x[pl * sz + i]), (double)p);   \
      y[pl] = (T)pow(s, 1.0 / (double)p);                                                   \
    }                                                                                       \
  }
GPOOL(float)
GPOOL(double)

static ivm_status global_pool(const rt_call *call, int lp) {
  const rt_tensor *x = call->in[0];
  if (x->rank < 3) return ivm_error(IVM_ERR_RUNTIME, "global pool: rank < 3");
  int64_t planes = x->dims[0] * x->dims[1], sz = rt_shape_numel(x->rank - 2, x->dims + 2);
  int64_t p = lp ? call->attrs[0].v.i : 0;
  if (lp && p < 1) return ivm_error(IVM_ERR_RUNTIME, "GlobalLpPool: p < 1");
  void *y = call->out[0]->data;
  switch (x->dtype) {
    case IVM_DT_F32:
      if (lp) glp_float(x->data, y, planes, sz, p);
      else gmax_float(x->data, y, planes, sz);
      return NULL;
    case IVM_DT_F64:
      if (lp) glp_double(x->data, y, planes, sz, p);
      else gmax_double(x->data, y, planes, sz);
      return NULL;
    default: return bad_dtype(lp ? "GlobalLpPool" : "GlobalMaxPool", x->dtype);
  }
}

ivm_status rt_k_GlobalMaxPool(const rt_call *call) { return global_pool(call, 0); }
ivm_status rt_k_GlobalLpPool(const rt_call *call) { return global_pool(call, 1); }

/* ---- LpNormalization: y = x / ||x||_p along axis (0 where the norm is 0) ---------- */
#define LPNORM(T)                                                                           \
  static void lpnorm_##T(const T *x, T *y, int64_t outer, int64_t n, int64_t inner, int p) { \
    for (int64_t o = 0; o < outer; o++)                                                     \
      for (int64_t j = 0; j < inner; j++) {                                                 \
        const T *xp = x + o * n * inner + j;                                                \
        T *yp = y + o * n * inner + j;                                                      \
        double s = 0;                                                                       \
        for (int64_t k = 0; k < n; k++) {                                                   \
          double v = xp[k * inner];                                                         \
          s += p == 1 ? fabs(v) : v * v;                                                    \
        }                                                                                   \
        double norm = p == 1 ? s : sqrt(s);                                                 \
        for (int64_t k = 0; k < n; k++)                                                     \
          yp[k * inner] = norm != 0 ? (T)((double)xp[k * inner] / norm) : (T)0;             \
      }                                                                                     \
  }
LPNORM(float)
LPNORM(double)

ivm_status rt_k_LpNormalization(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  int rank = x->rank;
  int64_t axis = call->attrs[ISA_A_LpNormalization_axis].v.i;
  int64_t p = call->attrs[ISA_A_LpNormalization_p].v.i;
  int r = rank < 1 ? 1 : rank;
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r || (p != 1 && p != 2))
    return ivm_error(IVM_ERR_RUNTIME, "LpNormalization: bad axis or p");
  int64_t outer = 1, inner = 1, n = rank ? x->dims[axis] : 1;
  for (int d = 0; d < axis; d++) outer *= x->dims[d];
  for (int d = (int)axis + 1; d < rank; d++) inner *= x->dims[d];
  switch (x->dtype) {
    case IVM_DT_F32: lpnorm_float(x->data, call->out[0]->data, outer, n, inner, (int)p); return NULL;
    case IVM_DT_F64: lpnorm_double(x->data, call->out[0]->data, outer, n, inner, (int)p); return NULL;
    default: return bad_dtype("LpNormalization", x->dtype);
  }
}

/* ---- LpPool: (sum over the window of |x|^p)^(1/p); padding adds nothing ---------- */
#define LPPOOL(T)                                                                           \
  static void lppool_##T(const isa_window *w, const T *x, T *y, int64_t planes, int64_t p) { \
    int n = w->n;                                                                           \
    int64_t in_sz = 1, out_sz = 1;                                                          \
    for (int d = 0; d < n; d++) {                                                           \
      in_sz *= w->in[d];                                                                    \
      out_sz *= w->out[d];                                                                  \
    }                                                                                       \
    for (int64_t pl = 0; pl < planes; pl++) {                                               \
      const T *xp = x + pl * in_sz;                                                         \
      int64_t o[ISA_MAX_RANK] = {0};                                                        \
      for (int64_t t = 0; t < out_sz; t++) {                                                \
        double s = 0;                                                                       \
        int64_t k[ISA_MAX_RANK] = {0};                                                      \
        for (;;) {                                                                          \
          int64_t off = 0, ok = 1;                                                          \
          for (int d = 0; d < n; d++) {                                                     \
            int64_t c = o[d] * w->stride[d] - w->pad_begin[d] + k[d] * w->dilation[d];      \
            if (c < 0 || c >= w->in[d]) ok = 0;                                             \
            off = off * w->in[d] + c;                                                       \
          }                                                                                 \
          if (ok) s += pow(fabs((double)xp[off]), (double)p);                               \
          int d = n - 1;                                                                    \
          for (; d >= 0; d--) {                                                             \
            if (++k[d] < w->kernel[d]) break;                                               \
            k[d] = 0;                                                                       \
          }                                                                                 \
          if (d < 0) break;                                                                 \
        }                                                                                   \
        y[pl * out_sz + t] = (T)pow(s, 1.0 / (double)p);                                    \
        for (int d = n - 1; d >= 0; d--) {                                                  \
          if (++o[d] < w->out[d]) break;                                                    \
          o[d] = 0;                                                                         \
        }                                                                                   \
      }                                                                                     \
    }                                                                                       \
  }
LPPOOL(float)
LPPOOL(double)

ivm_status rt_k_LpPool(const rt_call *call) {
  const rt_tensor *x = call->in[0], *y = call->out[0];
  const isa_attr *at = call->attrs;
  const isa_attr *ks = &at[ISA_A_LpPool_kernel_shape];
  int n = x->rank - 2;
  if (n < 1 || (int)ks->count != n || y->rank != x->rank)
    return ivm_error(IVM_ERR_RUNTIME, "LpPool: bad operand ranks");
  isa_window w;
  IVM_TRY(isa_window_resolve(n, x->dims + 2, ks->v.ints, &at[ISA_A_LpPool_auto_pad],
                             &at[ISA_A_LpPool_pads], &at[ISA_A_LpPool_strides],
                             &at[ISA_A_LpPool_dilations], at[ISA_A_LpPool_ceil_mode].v.i, 0, &w));
  if (y->dims[0] != x->dims[0] || y->dims[1] != x->dims[1])
    return ivm_error(IVM_ERR_RUNTIME, "LpPool: output shape mismatch");
  for (int d = 0; d < n; d++)
    if (y->dims[2 + d] != w.out[d]) return ivm_error(IVM_ERR_RUNTIME, "LpPool: output shape mismatch");
  int64_t p = at[ISA_A_LpPool_p].v.i;
  if (p < 1) return ivm_error(IVM_ERR_RUNTIME, "LpPool: p < 1");
  int64_t planes = x->dims[0] * x->dims[1];
  if (rt_numel(y) == 0) return NULL;
  switch (x->dtype) {
    case IVM_DT_F32: lppool_float(&w, x->data, call->out[0]->data, planes, p); return NULL;
    case IVM_DT_F64: lppool_double(&w, x->data, call->out[0]->data, planes, p); return NULL;
    default: return bad_dtype("LpPool", x->dtype);
  }
}
