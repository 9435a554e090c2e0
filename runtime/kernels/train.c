/* train family kernels (isa/ops_train.def): the optimizers Adagrad, Adam and Momentum
 * (ONNX ai.onnx.preview.training) and training-mode Dropout. Optimizer arithmetic is
 * done in double per element (reads before writes, so an output may share storage with
 * its own input). */
#include <math.h>
#include <string.h>

#include "runtime/kernels/ew.h"

/* ---- optimizers ------------------------------------------------------------------------ */
enum { OPT_ADAGRAD, OPT_ADAM, OPT_MOMENTUM, OPT_NESTEROV };

typedef struct opt_params {
  int kind;
  double r, decay, eps, norm, norm_post, alpha, beta;
  int64_t t;
} opt_params;

static inline double ld(int dt, const void *p, int64_t i) {
  return dt == IVM_DT_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static inline void st(int dt, void *p, int64_t i, double v) {
  if (dt == IVM_DT_F32) ((float *)p)[i] = (float)v;
  else ((double *)p)[i] = v;
}

/* One group: X, G and the state tensors S[0..ns), outputs X' and S'[..] (NULL: absent). */
static void opt_group(const opt_params *p, int dt, int64_t n, const void *x, const void *g,
                      const void *const *s, void *xo, void *const *so) {
  for (int64_t e = 0; e < n; e++) {
    double xv = ld(dt, x, e), gr = p->norm * xv + ld(dt, g, e), xn;
    switch (p->kind) {
      case OPT_ADAGRAD: {
        double h = ld(dt, s[0], e) + gr * gr;
        xn = xv - p->r * gr / (sqrt(h) + p->eps);
        if (so[0]) st(dt, so[0], e, h);
        break;
      }
      case OPT_ADAM: {
        double v = p->alpha * ld(dt, s[0], e) + (1.0 - p->alpha) * gr;
        double h = p->beta * ld(dt, s[1], e) + (1.0 - p->beta) * (gr * gr);
        xn = (1.0 - p->norm_post) * (xv - p->r * (v / (sqrt(h) + p->eps)));
        if (so[0]) st(dt, so[0], e, v);
        if (so[1]) st(dt, so[1], e, h);
        break;
      }
      default: { /* momentum; p->beta is already the adjusted beta */
        double v = p->alpha * ld(dt, s[0], e) + p->beta * gr;
        xn = p->kind == OPT_NESTEROV ? xv - p->r * (gr + p->alpha * v) : xv - p->r * v;
        if (so[0]) st(dt, so[0], e, v);
        break;
      }
    }
    if (xo) st(dt, xo, e, xn);
  }
}

/* k: tensor groups (X, G, states); inputs R, T, then k * n tensors. */
static ivm_status run_optimizer(const rt_call *c, opt_params *p, uint32_t k, const char *op) {
  if (c->n_in < 2 + k || (c->n_in - 2) % k != 0)
    return ivm_error(IVM_ERR_INTERNAL, "%s: bad input count %u", op, c->n_in);
  uint32_t n = (c->n_in - 2) / k;
  if (c->n_out > (k - 1) * n) return ivm_error(IVM_ERR_INTERNAL, "%s: bad output count", op);
  for (uint32_t i = 0; i < c->n_in; i++)
    if (!c->in[i]) return ivm_error(IVM_ERR_INTERNAL, "%s: input %u missing", op, i);
  const rt_tensor *R = c->in[0], *T = c->in[1];
  if (rt_numel(R) != 1 || rt_numel(T) != 1 || T->dtype != IVM_DT_I64 ||
      (R->dtype != IVM_DT_F32 && R->dtype != IVM_DT_F64))
    return ivm_error(IVM_ERR_RUNTIME, "%s: R and T must be one-element f32/f64 and i64", op);
  p->r = ld(R->dtype, R->data, 0);
  p->t = *(const int64_t *)T->data;
  int dt = c->in[2]->dtype;
  if (dt != IVM_DT_F32 && dt != IVM_DT_F64) return ew_bad_dtype(op, dt);
  if (p->kind == OPT_ADAGRAD) {
    p->r = p->r / (1.0 + (double)p->t * p->decay);
  } else if (p->kind == OPT_ADAM) {
    if (p->t > 0)
      p->r = p->r * sqrt(1.0 - pow(p->beta, (double)p->t)) / (1.0 - pow(p->alpha, (double)p->t));
  } else if (p->t <= 0) {
    p->beta = 1.0;
  }
  for (uint32_t i = 0; i < n; i++) {
    const rt_tensor *x = c->in[2 + i];
    int64_t ne = rt_numel(x);
    const void *s[2] = {NULL, NULL};
    void *so[2] = {NULL, NULL};
    for (uint32_t gi = 1; gi < k; gi++) {
      const rt_tensor *a = c->in[2 + gi * n + i];
      if (a->dtype != dt || !ew_same_shape(a, x))
        return ivm_error(IVM_ERR_RUNTIME, "%s: input %u does not match X%u's type", op,
                         2 + gi * n + i, i);
      if (gi >= 2) s[gi - 2] = a->data;
    }
    void *xo = NULL;
    for (uint32_t gi = 0; gi + 1 < k; gi++) {
      uint32_t o = gi * n + i;
      rt_tensor *y = o < c->n_out ? c->out[o] : NULL;
      if (!y) continue;
      if (y->dtype != dt || rt_numel(y) != ne)
        return ivm_error(IVM_ERR_RUNTIME, "%s: output %u does not match X%u's type", op, o, i);
      if (gi == 0) xo = y->data;
      else so[gi - 1] = y->data;
    }
    opt_group(p, dt, ne, x->data, c->in[2 + n + i]->data, s, xo, so);
  }
  return NULL;
}

ivm_status rt_k_Adagrad(const rt_call *c) {
  opt_params p;
  memset(&p, 0, sizeof p);
  p.kind = OPT_ADAGRAD;
  p.decay = ew_attr_f(c, ISA_A_Adagrad_decay_factor, 0.0f);
  p.eps = ew_attr_f(c, ISA_A_Adagrad_epsilon, 1e-6f);
  p.norm = ew_attr_f(c, ISA_A_Adagrad_norm_coefficient, 0.0f);
  return run_optimizer(c, &p, 3, "Adagrad");
}

ivm_status rt_k_Adam(const rt_call *c) {
  opt_params p;
  memset(&p, 0, sizeof p);
  p.kind = OPT_ADAM;
  p.alpha = ew_attr_f(c, ISA_A_Adam_alpha, 0.9f);
  p.beta = ew_attr_f(c, ISA_A_Adam_beta, 0.999f);
  p.eps = ew_attr_f(c, ISA_A_Adam_epsilon, 1e-6f);
  p.norm = ew_attr_f(c, ISA_A_Adam_norm_coefficient, 0.0f);
  p.norm_post = ew_attr_f(c, ISA_A_Adam_norm_coefficient_post, 0.0f);
  return run_optimizer(c, &p, 4, "Adam");
}

ivm_status rt_k_Momentum(const rt_call *c) {
  if (!c->attrs) return ivm_error(IVM_ERR_INTERNAL, "Momentum: attributes missing");
  opt_params p;
  memset(&p, 0, sizeof p);
  const isa_attr *m = &c->attrs[ISA_A_Momentum_mode];
  const char *s = m->type == ISA_ATTR_STRING && m->v.s ? m->v.s : "";
  if (!strcmp(s, "standard")) p.kind = OPT_MOMENTUM;
  else if (!strcmp(s, "nesterov")) p.kind = OPT_NESTEROV;
  else return ivm_error(IVM_ERR_RUNTIME, "Momentum: unknown mode '%s'", s);
  p.alpha = c->attrs[ISA_A_Momentum_alpha].v.f;
  p.beta = c->attrs[ISA_A_Momentum_beta].v.f;
  p.norm = c->attrs[ISA_A_Momentum_norm_coefficient].v.f;
  return run_optimizer(c, &p, 3, "Momentum");
}

/* ---- Dropout ----------------------------------------------------------------------------
 * The keep mask comes from MT19937 seeded with the `seed` attribute (absent: 0), drawing
 * uniform doubles in [0, 1) the way numpy's legacy RandomState does (np.random.seed(s);
 * np.random.uniform(0, 1, shape) >= ratio). ONNX leaves the generator unspecified; using
 * numpy's makes IVM reproduce the reference outputs, and the same seed always gives the
 * same mask. */
typedef struct mt19937 {
  uint32_t mt[624];
  int next;
} mt19937;

static void mt_seed(mt19937 *s, uint32_t seed) {
  s->mt[0] = seed;
  for (uint32_t i = 1; i < 624; i++)
    s->mt[i] = 1812433253u * (s->mt[i - 1] ^ (s->mt[i - 1] >> 30)) + i;
  s->next = 624;
}

static uint32_t mt_u32(mt19937 *s) {
  if (s->next >= 624) {
    for (int k = 0; k < 624; k++) {
      uint32_t y = (s->mt[k] & 0x80000000u) | (s->mt[(k + 1) % 624] & 0x7fffffffu);
      s->mt[k] = s->mt[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    s->next = 0;
  }
  uint32_t y = s->mt[s->next++];
  y ^= y >> 11;
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  return y ^ (y >> 18);
}

static double mt_uniform(mt19937 *s) {
  uint32_t a = mt_u32(s) >> 5, b = mt_u32(s) >> 6;
  return ((double)a * 67108864.0 + (double)b) / 9007199254740992.0;
}

ivm_status rt_k_Dropout(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Dropout", 1, 1));
  const rt_tensor *x = c->in[0];
  const rt_tensor *rt = c->n_in > 1 ? c->in[1] : NULL, *tm = c->n_in > 2 ? c->in[2] : NULL;
  rt_tensor *y = c->out[0], *mask = c->n_out > 1 ? c->out[1] : NULL;
  int dt = x->dtype;
  if (dt != IVM_DT_F32 && dt != IVM_DT_F64 && !ew_is_half(dt)) return ew_bad_dtype("Dropout", dt);
  int64_t n = rt_numel(x);
  if (y->dtype != dt || rt_numel(y) != n || (mask && (mask->dtype != IVM_DT_BOOL || rt_numel(mask) != n)))
    return ivm_error(IVM_ERR_INTERNAL, "Dropout: output types do not match X");
  double ratio = 0.5;
  int training = 0;
  if (rt) {
    if (rt_numel(rt) != 1) return ivm_error(IVM_ERR_RUNTIME, "Dropout: ratio must have one element");
    ratio = ew_load_d(rt->dtype, rt->data, 0);
  }
  if (tm) {
    if (rt_numel(tm) != 1 || tm->dtype != IVM_DT_BOOL)
      return ivm_error(IVM_ERR_RUNTIME, "Dropout: training_mode must be one bool");
    training = *(const uint8_t *)tm->data != 0;
  }
  if (training && !(ratio >= 0.0 && ratio < 1.0))
    return ivm_error(IVM_ERR_RUNTIME, "Dropout: ratio %g outside [0, 1)", ratio);
  if (!training || ratio == 0.0) {
    if (y->data != x->data && n) memcpy(y->data, x->data, rt_nbytes(x));
    if (mask && n) memset(mask->data, 1, (size_t)n);
    return NULL;
  }
  mt19937 rng;
  mt_seed(&rng, (uint32_t)ew_attr_i(c, ISA_A_Dropout_seed, 0));
  double scale = 1.0 / (1.0 - ratio);
  uint8_t *m = mask ? mask->data : NULL;
  for (int64_t i = 0; i < n; i++) {
    double u = mt_uniform(&rng);
    int keep = u >= ratio;
    if (m) m[i] = (uint8_t)keep;
    switch (dt) {
      case IVM_DT_F32: {
        const float *xs = x->data;
        ((float *)y->data)[i] = keep ? (float)(xs[i] * scale) : 0.0f;
        break;
      }
      case IVM_DT_F64: {
        const double *xs = x->data;
        ((double *)y->data)[i] = keep ? xs[i] * scale : 0.0;
        break;
      }
      default:
        ew_store_d(dt, y->data, i, keep ? ew_load_d(dt, x->data, i) * scale : 0.0);
        break;
    }
  }
  return NULL;
}
