/* GELU written out by exporters becomes the Gelu op:
 *
 *   erf:  x * 0.5 * (1 + Erf(x / sqrt(2)))                  (or Erf(x * 0.7071...))
 *   tanh: x * 0.5 * (1 + Tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
 *                                                           (x^3 as Pow(x, 3) or x*x*x)
 *
 * with the three factors x, 0.5 and (1 + ...) multiplied in any order and grouping, and
 * the operands of each Add / Mul in either order. The irrational constants must match to
 * 1e-6 relative (exporters write them rounded to f32 or to a few more digits); 0.5, 1, 3
 * and 0.044715 must be those numbers. */
#include <math.h>

#include "compiler/pass_fuse.h"

#define IRRATIONAL_TOL 1e-6
#define DECIMAL_TOL 1e-7 /* 0.044715 is a decimal constant: its f32 rounding only */
#define MAX_CHAIN 12

typedef struct chain {
  uint32_t nodes[MAX_CHAIN];
  uint32_t n;
} chain;

static void add(chain *c, int32_t node) { c->nodes[c->n++] = (uint32_t)node; }

static int rank_of(const cc_graph *g, int32_t v) { return g->values[v].type.rank; }

/* A single-use Mul below `user` with one input a constant scalar near `c` (rel tol) and
 * the other an arbitrary value, returned in *other. */
static int32_t mul_by_const(const fuse_ctx *f, int32_t v, uint32_t user, double c, double tol,
                            int32_t *other) {
  int32_t p = fuse_single_producer(f, v, ISA_OP_Mul, user);
  if (p < 0) return -1;
  const cc_node *n = &f->g->nodes[p];
  int r = rank_of(f->g, v);
  for (int s = 0; s < 2; s++)
    if (fuse_const_scalar_is(f->g, n->in[s], c, tol, r) && n->in[1 - s] != n->in[s]) {
      *other = n->in[1 - s];
      return p;
    }
  return -1;
}

/* u = x / sqrt(2) or x * (1/sqrt(2)); erf(u) below `user`. */
static int erf_arg_is_x(const fuse_ctx *f, int32_t u, uint32_t user, int32_t x, chain *c) {
  int32_t other, p = fuse_single_producer(f, u, ISA_OP_Div, user);
  if (p >= 0) {
    const cc_node *n = &f->g->nodes[p];
    if (n->in[0] != x || !fuse_const_scalar_is(f->g, n->in[1], sqrt(2.0), IRRATIONAL_TOL,
                                               rank_of(f->g, u)))
      return 0;
    add(c, p);
    return 1;
  }
  p = mul_by_const(f, u, user, sqrt(0.5), IRRATIONAL_TOL, &other);
  if (p < 0 || other != x) return 0;
  add(c, p);
  return 1;
}

/* x3 = Pow(x, 3), Mul(Mul(x, x), x) or Mul(x, Mul(x, x)), below `user`. */
static int is_cube_of_x(const fuse_ctx *f, int32_t x3, uint32_t user, int32_t x, chain *c) {
  int32_t p = fuse_single_producer(f, x3, ISA_OP_Pow, user);
  if (p >= 0) {
    const cc_node *n = &f->g->nodes[p];
    if (n->in[0] != x || !fuse_const_scalar_is(f->g, n->in[1], 3.0, 0, rank_of(f->g, x3)))
      return 0;
    add(c, p);
    return 1;
  }
  p = fuse_single_producer(f, x3, ISA_OP_Mul, user);
  if (p < 0) return 0;
  const cc_node *n = &f->g->nodes[p];
  int32_t sq = fuse_other_input(n, x);
  int32_t q = fuse_single_producer(f, sq, ISA_OP_Mul, (uint32_t)p);
  if (q < 0 || f->g->nodes[q].in[0] != x || f->g->nodes[q].in[1] != x) return 0;
  add(c, p);
  add(c, q);
  return 1;
}

/* u = sqrt(2/pi) * (x + 0.044715 * x^3) below `user`. */
static int tanh_arg_is_x(const fuse_ctx *f, int32_t u, uint32_t user, int32_t x, chain *c) {
  int32_t w, p = mul_by_const(f, u, user, sqrt(2.0 / 3.14159265358979323846), IRRATIONAL_TOL, &w);
  if (p < 0) return 0;
  int32_t s = fuse_single_producer(f, w, ISA_OP_Add, (uint32_t)p);
  if (s < 0) return 0;
  int32_t cube_term = fuse_other_input(&f->g->nodes[s], x), x3;
  if (cube_term < 0) return 0;
  int32_t m = mul_by_const(f, cube_term, (uint32_t)s, 0.044715, DECIMAL_TOL, &x3);
  if (m < 0 || !is_cube_of_x(f, x3, (uint32_t)m, x, c)) return 0;
  add(c, p);
  add(c, s);
  add(c, m);
  return 1;
}

/* a = 1 + erf(..x..) or 1 + tanh(..x..) below `user`; *approx_tanh tells which. */
static int one_plus_core(const fuse_ctx *f, int32_t a, uint32_t user, int32_t x, chain *c,
                         int *approx_tanh) {
  int32_t p = fuse_single_producer(f, a, ISA_OP_Add, user);
  if (p < 0) return 0;
  const cc_node *n = &f->g->nodes[p];
  for (int s = 0; s < 2; s++) {
    if (!fuse_const_scalar_is(f->g, n->in[s], 1.0, 0, rank_of(f->g, a))) continue;
    int32_t e = n->in[1 - s];
    uint32_t mark = c->n;
    int32_t q = fuse_single_producer(f, e, ISA_OP_Erf, (uint32_t)p);
    if (q >= 0 && erf_arg_is_x(f, f->g->nodes[q].in[0], (uint32_t)q, x, c)) {
      *approx_tanh = 0;
    } else {
      c->n = mark;
      q = fuse_single_producer(f, e, ISA_OP_Tanh, (uint32_t)p);
      if (q < 0 || !tanh_arg_is_x(f, f->g->nodes[q].in[0], (uint32_t)q, x, c)) {
        c->n = mark;
        continue;
      }
      *approx_tanh = 1;
    }
    add(c, p);
    add(c, q);
    return 1;
  }
  return 0;
}

/* Node i = Mul(P, Q): the product of x, 0.5 and a = 1 + core(x) in some grouping. */
static ivm_status try_gelu(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  const cc_graph *g = f->g;
  const cc_node *n = &g->nodes[i];
  if (n->n_in != 2 || n->n_out != 1 || n->out[0] < 0) return NULL;
  int r = rank_of(g, n->out[0]);
  if (r < 0 || !isa_dtype_is_float(g->values[n->out[0]].type.dtype)) return NULL;
  for (int s = 0; s < 2; s++) {
    int32_t inner_v = n->in[s], outer = n->in[1 - s];
    int32_t inner = fuse_single_producer(f, inner_v, ISA_OP_Mul, i);
    if (inner < 0) continue;
    int32_t fac[3] = {g->nodes[inner].in[0], g->nodes[inner].in[1], outer};
    /* Which factor is 0.5 and which is a; the remaining one is x. */
    for (int h = 0; h < 3; h++) {
      if (!fuse_const_scalar_is(g, fac[h], 0.5, 0, r)) continue;
      for (int ai = 0; ai < 3; ai++) {
        if (ai == h) continue;
        int32_t a = fac[ai], x = fac[3 - h - ai];
        /* a is read by the inner Mul when it is one of its operands, else by node i. */
        uint32_t a_user = ai < 2 ? (uint32_t)inner : i;
        chain c = {{0}, 0};
        int approx_tanh = 0;
        if (x < 0 || !one_plus_core(f, a, a_user, x, &c, &approx_tanh)) continue;
        add(&c, inner);
        int32_t in[1] = {x};
        cc_node saved;
        IVM_TRY(fuse_rewrite(f, i, ISA_OP_Gelu, in, 1, &saved));
        if (approx_tanh)
          IVM_TRY(cc_node_set_attr(f->g, i, "approximate", ISA_ATTR_STRING, 0, 0, "tanh", NULL, 1));
        return fuse_commit(f, i, &saved, c.nodes, c.n, done);
      }
    }
  }
  return NULL;
}

ivm_status fuse_gelu(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_gelu, count, ISA_OP_Mul);
}

/* ---- HardSwish -------------------------------------------------------------------------
 * Exporters write hard swish as x * Clip(x + 3, 0, 6) / 6 (the division also as a Mul by
 * 1/6, on the product or on the Clip) or as x * HardSigmoid(x) with alpha 1/6, beta 1/2.
 * All are HardSwish(x) = x * clamp(x / 6 + 1/2, 0, 1) up to rounding. */
#define SIXTH_TOL 1e-6

/* d = v / 6 or v * (1/6) (either operand order) below `user`; returns the node, *v set. */
static int32_t div_by_six(const fuse_ctx *f, int32_t d, uint32_t user, int32_t *v) {
  int r = rank_of(f->g, d);
  int32_t p = fuse_single_producer(f, d, ISA_OP_Div, user);
  if (p >= 0) {
    const cc_node *n = &f->g->nodes[p];
    if (!fuse_const_scalar_is(f->g, n->in[1], 6.0, 0, r)) return -1;
    *v = n->in[0];
    return p;
  }
  return mul_by_const(f, d, user, 1.0 / 6.0, SIXTH_TOL, v);
}

/* c = Clip(x + 3, 0, 6) below `user`, x given; adds Clip and Add to the chain. */
static int relu6_of_x_plus_3(const fuse_ctx *f, int32_t c, uint32_t user, int32_t x, chain *ch) {
  int32_t p = fuse_single_producer(f, c, ISA_OP_Clip, user);
  if (p < 0) return 0;
  const cc_node *n = &f->g->nodes[p];
  int r = rank_of(f->g, c);
  if (n->n_in != 3 || !fuse_const_scalar_is(f->g, n->in[1], 0.0, 0, r) ||
      !fuse_const_scalar_is(f->g, n->in[2], 6.0, 0, r))
    return 0;
  int32_t q = fuse_single_producer(f, n->in[0], ISA_OP_Add, (uint32_t)p);
  if (q < 0) return 0;
  const cc_node *a = &f->g->nodes[q];
  int32_t k = fuse_other_input(a, x);
  if (k < 0 || !fuse_const_scalar_is(f->g, k, 3.0, 0, r)) return 0;
  add(ch, p);
  add(ch, q);
  return 1;
}

/* Node i = Mul(x, Clip(..)/6), Mul(x, Clip(..))/6 or Mul(x, HardSigmoid(x)). */
static ivm_status try_hardswish(fuse_ctx *f, uint32_t i, int *done) {
  *done = 0;
  const cc_graph *g = f->g;
  const cc_node *n = &g->nodes[i];
  if (n->n_in != 2 || n->n_out != 1 || n->out[0] < 0) return NULL;
  int32_t y = n->out[0];
  if (rank_of(g, y) < 0 || !isa_dtype_is_float(g->values[y].type.dtype)) return NULL;
  chain c = {{0}, 0};
  int32_t x = -1;
  /* (x * Clip(..)) / 6 */
  int32_t prod = -1;
  if (n->op == ISA_OP_Div) {
    if (fuse_const_scalar_is(g, n->in[1], 6.0, 0, rank_of(g, y))) prod = n->in[0];
  } else {
    for (int s = 0; s < 2 && prod < 0; s++)
      if (fuse_const_scalar_is(g, n->in[s], 1.0 / 6.0, SIXTH_TOL, rank_of(g, y)))
        prod = n->in[1 - s];
  }
  if (prod >= 0) {
    int32_t p = fuse_single_producer(f, prod, ISA_OP_Mul, i);
    if (p < 0) return NULL;
    const cc_node *m = &g->nodes[p];
    for (int s = 0; s < 2 && x < 0; s++) {
      c.n = 0;
      if (relu6_of_x_plus_3(f, m->in[1 - s], (uint32_t)p, m->in[s], &c)) x = m->in[s];
    }
    if (x < 0) return NULL;
    add(&c, p);
  } else if (n->op == ISA_OP_Mul) {
    /* x * (Clip(..) / 6) or x * HardSigmoid(x) */
    for (int s = 0; s < 2 && x < 0; s++) {
      int32_t cand = n->in[s], other = n->in[1 - s], clip;
      c.n = 0;
      int32_t d = div_by_six(f, other, i, &clip);
      if (d >= 0 && relu6_of_x_plus_3(f, clip, (uint32_t)d, cand, &c)) {
        add(&c, d);
        x = cand;
        break;
      }
      c.n = 0;
      int32_t h = fuse_single_producer(f, other, ISA_OP_HardSigmoid, i);
      if (h >= 0 && g->nodes[h].in[0] == cand &&
          fabs(g->nodes[h].slots[ISA_A_HardSigmoid_alpha].v.f - 1.0 / 6.0) <= SIXTH_TOL &&
          g->nodes[h].slots[ISA_A_HardSigmoid_beta].v.f == 0.5f) {
        add(&c, h);
        x = cand;
      }
    }
    if (x < 0) return NULL;
  } else {
    return NULL;
  }
  int32_t in[1] = {x};
  cc_node saved;
  IVM_TRY(fuse_rewrite(f, i, ISA_OP_HardSwish, in, 1, &saved));
  return fuse_commit(f, i, &saved, c.nodes, c.n, done);
}

ivm_status fuse_hardswish(fuse_ctx *f, uint32_t *count) {
  return FUSE_EACH(f, try_hardswish, count, ISA_OP_Mul, ISA_OP_Div);
}
