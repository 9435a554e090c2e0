/* NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss over (N, C, d1...) inputs with
 * (N, d1...) i32/i64 targets. Per element e = (n, d):
 *   w_e = 0 if target == ignore_index, else weight[target] (1 without weights)
 *   l_e = -w_e * input[n][target][d]        (SCE: input = log_softmax(scores, axis 1))
 * reduction none: l; sum: sum(l); mean: sum(l) / sum(w) (0/0 = NaN, as the reference).
 * A target outside [0, C) that is not ignore_index is a run-time error. Sums are in f64;
 * f16 / bf16 / f32 / f64 values are converted on load and store. */
#include <math.h>
#include <string.h>

#include "isa/infer_quant.h"
#include "runtime/rt.h"

static inline double ld(const void *p, int dt, int64_t i) {
  switch (dt) {
    case IVM_DT_F64: return ((const double *)p)[i];
    case IVM_DT_F16: return isa_f16_to_f32(((const uint16_t *)p)[i]);
    case IVM_DT_BF16: return isa_bf16_to_f32(((const uint16_t *)p)[i]);
    default: return ((const float *)p)[i];
  }
}

static inline void st(void *p, int dt, int64_t i, double v) {
  switch (dt) {
    case IVM_DT_F64: ((double *)p)[i] = v; break;
    case IVM_DT_F16: ((uint16_t *)p)[i] = isa_f32_to_f16((float)v); break;
    case IVM_DT_BF16: ((uint16_t *)p)[i] = isa_f32_to_bf16((float)v); break;
    default: ((float *)p)[i] = (float)v; break;
  }
}

static inline int64_t ld_index(const rt_tensor *t, int64_t i) {
  return t->dtype == IVM_DT_I32 ? ((const int32_t *)t->data)[i] : ((const int64_t *)t->data)[i];
}

typedef struct loss_plan {
  int64_t N, C, D;
  int red;            /* 0 none, 1 sum, 2 mean */
  int has_ii;
  int64_t ii;
} loss_plan;

static ivm_status plan(const rt_call *call, loss_plan *p) {
  const rt_tensor *x = call->in[0], *t = call->in[1];
  const rt_tensor *w = call->n_in > 2 ? call->in[2] : NULL;
  if (x->rank < 2 || t->rank != x->rank - 1) return ivm_error(IVM_ERR_RUNTIME, "loss: bad ranks");
  p->N = x->dims[0];
  p->C = x->dims[1];
  p->D = 1;
  if (t->dims[0] != p->N) return ivm_error(IVM_ERR_RUNTIME, "loss: target shape mismatch");
  for (int k = 2; k < x->rank; k++) {
    if (t->dims[k - 1] != x->dims[k]) return ivm_error(IVM_ERR_RUNTIME, "loss: target shape mismatch");
    p->D *= x->dims[k];
  }
  if (w && rt_numel(w) != p->C) return ivm_error(IVM_ERR_RUNTIME, "loss: weight length mismatch");
  /* both ops share the attribute schema */
  p->red = isa_quant_reduction(call->attrs, ISA_A_NegativeLogLikelihoodLoss_reduction);
  if (p->red < 0) return ivm_error(IVM_ERR_RUNTIME, "loss: bad reduction");
  p->ii = INT64_MIN;
  p->has_ii = 0;
  if (call->attrs) {
    const isa_attr *a = &call->attrs[ISA_A_NegativeLogLikelihoodLoss_ignore_index];
    p->ii = a->v.i;
    p->has_ii = a->present || a->v.i != INT64_MIN;
  }
  int64_t outn = p->red == 0 ? p->N * p->D : 1;
  if (rt_numel(call->out[0]) != outn) return ivm_error(IVM_ERR_RUNTIME, "loss: output shape mismatch");
  return NULL;
}

/* The loss given log-probabilities lp (dtype dt, layout (N, C, D)). */
static ivm_status nll(const rt_call *call, const loss_plan *p, const void *lp, int dt) {
  const rt_tensor *t = call->in[1];
  const rt_tensor *w = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *out = call->out[0];
  double sum = 0.0, wsum = 0.0;
  for (int64_t n = 0; n < p->N; n++)
    for (int64_t d = 0; d < p->D; d++) {
      int64_t e = n * p->D + d, c = ld_index(t, e);
      double l = 0.0, we = 0.0;
      if (!(p->has_ii && c == p->ii)) {
        if (c < 0 || c >= p->C)
          return ivm_error(IVM_ERR_RUNTIME, "loss: target %lld out of range [0, %lld)",
                           (long long)c, (long long)p->C);
        we = w ? ld(w->data, w->dtype, c) : 1.0;
        l = -we * ld(lp, dt, (n * p->C + c) * p->D + d);
      }
      if (p->red == 0) st(out->data, out->dtype, e, l);
      sum += l;
      wsum += we;
    }
  if (p->red == 1) st(out->data, out->dtype, 0, sum);
  else if (p->red == 2) st(out->data, out->dtype, 0, sum / wsum);
  return NULL;
}

ivm_status rt_k_NegativeLogLikelihoodLoss(const rt_call *call) {
  loss_plan p;
  IVM_TRY(plan(call, &p));
  return nll(call, &p, call->in[0]->data, call->in[0]->dtype);
}

ivm_status rt_k_SoftmaxCrossEntropyLoss(const rt_call *call) {
  loss_plan p;
  IVM_TRY(plan(call, &p));
  const rt_tensor *x = call->in[0];
  rt_tensor *lp_out = call->n_out > 1 ? call->out[1] : NULL;
  int dt = x->dtype;
  if (lp_out && (lp_out->dtype != dt || rt_numel(lp_out) != rt_numel(x)))
    return ivm_error(IVM_ERR_RUNTIME, "SoftmaxCrossEntropyLoss: log_prob shape mismatch");
  /* log-probabilities go to the log_prob output, or to scratch, in x's dtype for f64 and
   * f32 (f16/bf16 are kept in f32 so no precision is lost before the loss) */
  int lpdt = (dt == IVM_DT_F64) ? IVM_DT_F64 : IVM_DT_F32;
  int64_t n_el = rt_numel(x);
  size_t es = lpdt == IVM_DT_F64 ? 8 : 4;
  size_t lp_bytes = (size_t)n_el * es, row_bytes = (size_t)p.D * sizeof(double);
  void *mem;
  IVM_TRY(rt_scratch_get(call->scratch, lp_bytes + 2 * row_bytes + 64, &mem));
  double *mx = (double *)mem, *sm = mx + p.D;
  void *lp = (char *)mem + 2 * row_bytes;
  for (int64_t n = 0; n < p.N; n++) {
    int64_t base = n * p.C * p.D;
    for (int64_t d = 0; d < p.D; d++) {
      mx[d] = -INFINITY;
      sm[d] = 0.0;
    }
    for (int64_t c = 0; c < p.C; c++)
      for (int64_t d = 0; d < p.D; d++) {
        double v = ld(x->data, dt, base + c * p.D + d);
        if (v > mx[d]) mx[d] = v;
      }
    for (int64_t c = 0; c < p.C; c++)
      for (int64_t d = 0; d < p.D; d++) sm[d] += exp(ld(x->data, dt, base + c * p.D + d) - mx[d]);
    for (int64_t d = 0; d < p.D; d++) sm[d] = mx[d] + log(sm[d]);
    for (int64_t c = 0; c < p.C; c++)
      for (int64_t d = 0; d < p.D; d++) {
        int64_t i = base + c * p.D + d;
        double v = ld(x->data, dt, i) - sm[d];
        st(lp, lpdt, i, v);
        if (lp_out) st(lp_out->data, dt, i, v);
      }
  }
  return nll(call, &p, lp, lpdt);
}
