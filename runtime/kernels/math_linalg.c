/* Math-family linear algebra: Det (LU with partial pivoting, in double) and Einsum.
 *
 * Einsum reads the equation with the same parser as inference (isa/infer_math.h). Every
 * label gets a size and, per input, a stride (the sum of the strides of the input's axes
 * carrying it, so a repeated label walks a diagonal; a size-1 axis broadcasts with stride
 * 0). The kernel then runs an odometer over the output labels and, inside it, over the
 * summed labels, accumulating the product of the inputs (double for floats, wrapping
 * uint64 for integers). */
#include <math.h>

#include "isa/infer_math.h"
#include "runtime/kernels/ew.h"

/* ---- Det --------------------------------------------------------------------------------- */
static double det_lu(double *a, int64_t n) {
  double det = 1.0;
  for (int64_t k = 0; k < n; k++) {
    int64_t piv = k;
    double best = fabs(a[k * n + k]);
    for (int64_t i = k + 1; i < n; i++)
      if (fabs(a[i * n + k]) > best) best = fabs(a[i * n + k]), piv = i;
    if (best == 0.0) return 0.0;
    if (piv != k) {
      for (int64_t j = 0; j < n; j++) {
        double t = a[k * n + j];
        a[k * n + j] = a[piv * n + j];
        a[piv * n + j] = t;
      }
      det = -det;
    }
    double d = a[k * n + k];
    det *= d;
    for (int64_t i = k + 1; i < n; i++) {
      double f = a[i * n + k] / d;
      if (f == 0.0) continue;
      for (int64_t j = k + 1; j < n; j++) a[i * n + j] -= f * a[k * n + j];
    }
  }
  return det;
}

ivm_status rt_k_Det(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Det", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int dt = x->dtype, r = x->rank;
  if (!isa_dtype_is_float(dt)) return ew_bad_dtype("Det", dt);
  if (r < 2 || x->dims[r - 1] != x->dims[r - 2] || y->dtype != dt)
    return ivm_error(IVM_ERR_INTERNAL, "Det: input is not a batch of square matrices");
  int64_t n = x->dims[r - 1], batch = rt_shape_numel(r - 2, x->dims);
  if (rt_numel(y) != batch) return ivm_error(IVM_ERR_INTERNAL, "Det: output size");
  double *a = NULL;
  if (n > 0) IVM_TRY(rt_scratch_get(c->scratch, (size_t)(n * n) * sizeof(double), (void **)&a));
  for (int64_t b = 0; b < batch; b++) {
    for (int64_t i = 0; i < n * n; i++) a[i] = ew_load_d(dt, x->data, b * n * n + i);
    ew_store_d(dt, y->data, b, n > 0 ? det_lu(a, n) : 1.0);
  }
  return NULL;
}

/* ---- Einsum ------------------------------------------------------------------------------ */
typedef struct es_loop {
  uint32_t n_in;
  const void *data[ISA_EINSUM_MAX_IN];
  int no, nc;                                  /* output / summed labels */
  int64_t osz[ISA_MAX_RANK], csz[ISA_EINSUM_MAX_LABELS];
  int64_t ost[ISA_EINSUM_MAX_IN][ISA_MAX_RANK]; /* per input, per output axis */
  int64_t cst[ISA_EINSUM_MAX_IN][ISA_EINSUM_MAX_LABELS];
} es_loop;

/* ES_RUN: LOAD(k, off) yields input k's element as AT; the sum is stored by STORE(i, v).
 * The last summed label is a tight strided loop (a dot product for two inputs); the other
 * summed labels and the output labels advance by odometers. */
#define ES_RUN(AT, ONE, LOAD, STORE)                                                   \
  do {                                                                                 \
    int64_t oidx[ISA_MAX_RANK] = {0}, obase[ISA_EINSUM_MAX_IN] = {0};                  \
    int64_t total = 1, csum = 1;                                                       \
    for (int d = 0; d < L->no; d++) total *= L->osz[d];                                \
    for (int d = 0; d < L->nc; d++) csum *= L->csz[d];                                 \
    const int nco = L->nc > 0 ? L->nc - 1 : 0; /* summed labels in the odometer */     \
    const int64_t clen = L->nc > 0 ? L->csz[L->nc - 1] : 1;                            \
    int64_t cs[ISA_EINSUM_MAX_IN];                                                     \
    for (uint32_t k = 0; k < L->n_in; k++) cs[k] = L->nc > 0 ? L->cst[k][L->nc - 1] : 0; \
    for (int64_t i = 0; i < total; i++) {                                              \
      AT sum = 0;                                                                      \
      int64_t cidx[ISA_EINSUM_MAX_LABELS], off[ISA_EINSUM_MAX_IN];                     \
      for (int d = 0; d < nco; d++) cidx[d] = 0;                                       \
      for (uint32_t k = 0; k < L->n_in; k++) off[k] = obase[k];                        \
      for (int64_t t = 0; t < csum; t += clen) {                                       \
        if (L->n_in == 2) {                                                            \
          for (int64_t j = 0; j < clen; j++)                                           \
            sum = sum + LOAD(0, off[0] + j * cs[0]) * LOAD(1, off[1] + j * cs[1]);      \
        } else {                                                                       \
          for (int64_t j = 0; j < clen; j++) {                                         \
            AT p = ONE;                                                                \
            for (uint32_t k = 0; k < L->n_in; k++) p = p * LOAD(k, off[k] + j * cs[k]); \
            sum = sum + p;                                                             \
          }                                                                            \
        }                                                                              \
        for (int d = nco - 1; d >= 0; d--) {                                           \
          for (uint32_t k = 0; k < L->n_in; k++) off[k] += L->cst[k][d];               \
          if (++cidx[d] < L->csz[d]) break;                                            \
          for (uint32_t k = 0; k < L->n_in; k++) off[k] -= L->cst[k][d] * L->csz[d];   \
          cidx[d] = 0;                                                                 \
        }                                                                              \
      }                                                                                \
      STORE(i, sum);                                                                   \
      for (int d = L->no - 1; d >= 0; d--) {                                           \
        for (uint32_t k = 0; k < L->n_in; k++) obase[k] += L->ost[k][d];               \
        if (++oidx[d] < L->osz[d]) break;                                              \
        for (uint32_t k = 0; k < L->n_in; k++) obase[k] -= L->ost[k][d] * L->osz[d];   \
        oidx[d] = 0;                                                                   \
      }                                                                                \
    }                                                                                  \
  } while (0)

#define LD_F32(k, o) (double)((const float *)L->data[k])[o]
#define LD_F64(k, o) ((const double *)L->data[k])[o]
#define LD_ANYF(k, o) ew_load_d(dt, L->data[k], o)
#define LD_INT(k, o) (uint64_t)ew_load_i64(dt, L->data[k], o)
#define ST_F32(i, v) ((float *)y->data)[i] = (float)(v)
#define ST_F64(i, v) ((double *)y->data)[i] = (v)
#define ST_ANYF(i, v) ew_store_d(dt, y->data, i, v)
#define ST_INT(i, v) ew_store_i64(dt, y->data, i, v)

ivm_status rt_k_Einsum(const rt_call *c) {
  if (c->n_in < 1 || c->n_in > ISA_EINSUM_MAX_IN)
    return ivm_error(IVM_ERR_INTERNAL, "Einsum: %u inputs", c->n_in);
  IVM_TRY(ew_check_io(c, "Einsum", c->n_in, 1));
  rt_tensor *y = c->out[0];
  int dt = c->in[0]->dtype;
  if (!isa_dtype_is_float(dt) && !isa_dtype_is_int(dt)) return ew_bad_dtype("Einsum", dt);
  int ranks[ISA_EINSUM_MAX_IN];
  for (uint32_t k = 0; k < c->n_in; k++) {
    if (c->in[k]->dtype != dt) return ivm_error(IVM_ERR_INTERNAL, "Einsum: mixed dtypes");
    ranks[k] = c->in[k]->rank;
  }
  const char *eq = c->attrs ? c->attrs[ISA_A_Einsum_equation].v.s : NULL;
  isa_einsum e;
  ivm_status st = isa_einsum_parse(eq, c->n_in, ranks, &e);
  if (st) return ivm_status_wrap(st, "Einsum");
  if (y->dtype != dt || e.out_rank != y->rank)
    return ivm_error(IVM_ERR_INTERNAL, "Einsum: output type does not match the equation");

  int64_t size[ISA_EINSUM_MAX_LABELS];
  for (int l = 0; l < ISA_EINSUM_MAX_LABELS; l++) size[l] = 1;
  for (uint32_t k = 0; k < c->n_in; k++)
    for (int i = 0; i < ranks[k]; i++) {
      int l = e.in_label[k][i];
      int64_t d = c->in[k]->dims[i];
      if (d == 1) continue;
      if (size[l] != 1 && size[l] != d)
        return ivm_error(IVM_ERR_INTERNAL, "Einsum: input %u dim %d does not match its label", k, i);
      size[l] = d;
    }
  for (uint32_t k = 0; k < c->n_in; k++) /* a diagonal needs equal dims */
    for (int i = 0; i < ranks[k]; i++)
      for (int j = 0; j < i; j++)
        if (e.in_label[k][i] == e.in_label[k][j] && c->in[k]->dims[i] != c->in[k]->dims[j])
          return ivm_error(IVM_ERR_INTERNAL, "Einsum: input %u diagonal of unequal dims", k);

  es_loop *L;
  IVM_TRY(rt_scratch_get(c->scratch, sizeof *L, (void **)&L));
  memset(L, 0, sizeof *L);
  L->n_in = c->n_in;
  /* per input, per label strides */
  int64_t lst[ISA_EINSUM_MAX_IN][ISA_EINSUM_MAX_LABELS];
  memset(lst, 0, sizeof lst);
  for (uint32_t k = 0; k < c->n_in; k++) {
    L->data[k] = c->in[k]->data;
    int64_t s = 1;
    for (int i = ranks[k] - 1; i >= 0; i--) {
      if (c->in[k]->dims[i] != 1) lst[k][e.in_label[k][i]] += s;
      s *= c->in[k]->dims[i];
    }
  }
  uint8_t in_out[ISA_EINSUM_MAX_LABELS] = {0};
  L->no = e.out_rank;
  for (int d = 0; d < e.out_rank; d++) {
    int l = e.out_label[d];
    in_out[l] = 1;
    L->osz[d] = size[l];
    if (y->dims[d] != size[l])
      return ivm_error(IVM_ERR_INTERNAL, "Einsum: output dim %d is %lld, expected %lld", d,
                       (long long)y->dims[d], (long long)size[l]);
    for (uint32_t k = 0; k < c->n_in; k++) L->ost[k][d] = lst[k][l];
  }
  for (int l = 0; l < ISA_EINSUM_MAX_LABELS; l++) {
    if (!e.used[l] || in_out[l] || size[l] == 1) continue;
    L->csz[L->nc] = size[l];
    for (uint32_t k = 0; k < c->n_in; k++) L->cst[k][L->nc] = lst[k][l];
    L->nc++;
  }
  if (rt_numel(y) == 0) return NULL;
  switch (dt) {
    case IVM_DT_F32: ES_RUN(double, 1.0, LD_F32, ST_F32); break;
    case IVM_DT_F64: ES_RUN(double, 1.0, LD_F64, ST_F64); break;
    case IVM_DT_F16:
    case IVM_DT_BF16: ES_RUN(double, 1.0, LD_ANYF, ST_ANYF); break;
    default: ES_RUN(uint64_t, 1u, LD_INT, ST_INT); break;
  }
  return NULL;
}
