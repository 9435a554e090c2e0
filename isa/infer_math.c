/* Shape / type inference for the math family (isa/ops_math.def): logical and comparison
 * ops, Mod, BitShift, PRelu, unary math and activations, Hardmax, the extra reductions,
 * Det and Einsum. Everything known is validated (bytecode is untrusted); unknown values
 * give ISA_DIM_ANY dims or rank -1. */
#include <string.h>

#include "isa/infer_math.h"
#include "isa/infer_util.h"
#include "isa/op.h"

#define BAD(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

static int is_unsigned(int dt) {
  return dt == IVM_DT_U8 || dt == IVM_DT_U16 || dt == IVM_DT_U32 || dt == IVM_DT_U64;
}

/* Arity, and each present input has a valid dtype and rank -1..ISA_MAX_RANK. */
static ivm_status check_counts(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                               uint32_t n_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return BAD("expected %u..%u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out != n_out) return BAD("expected %u outputs, got %u", n_out, ctx->n_out);
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->dtype == IVM_DT_NONE) {
      if (i < min_in) return BAD("input %u: required", i);
      continue;
    }
    if (!isa_dtype_valid(t->dtype)) return BAD("input %u: invalid dtype %d", i, t->dtype);
    if (t->rank < -1 || t->rank > ISA_MAX_RANK) return BAD("input %u: invalid rank %d", i, t->rank);
  }
  return NULL;
}

static ivm_status binary_same(isa_infer_ctx *ctx, int out_dtype) {
  const isa_type *a = &ctx->in[0], *b = &ctx->in[1];
  if (b->dtype != a->dtype)
    return BAD("input 1: expected %s (input 0's dtype), got %s", iu_dtn(a->dtype),
               iu_dtn(b->dtype));
  iu_set_unknown_rank(&ctx->out[0], out_dtype);
  const isa_type *ts[2] = {a, b};
  IVM_TRY(iu_broadcast(ts, 2, &ctx->out[0]));
  ctx->out[0].dtype = (uint8_t)out_dtype;
  return NULL;
}

/* ---- binary ---------------------------------------------------------------------------- */
ivm_status isa_infer_math_logical(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1));
  if (ctx->in[0].dtype != IVM_DT_BOOL)
    return BAD("input 0: expected bool, got %s", iu_dtn(ctx->in[0].dtype));
  return binary_same(ctx, IVM_DT_BOOL);
}

ivm_status isa_infer_math_compare(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1));
  if (!iu_is_numeric(ctx->in[0].dtype) && ctx->in[0].dtype != IVM_DT_BOOL)
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(ctx->in[0].dtype));
  return binary_same(ctx, IVM_DT_BOOL);
}

ivm_status isa_infer_math_mod(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1));
  if (!iu_is_numeric(ctx->in[0].dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(ctx->in[0].dtype));
  int64_t f = ctx->attrs ? ctx->attrs[ISA_A_Mod_fmod].v.i : 0;
  if (f != 0 && f != 1) return BAD("attribute fmod: expected 0 or 1, got %lld", (long long)f);
  return binary_same(ctx, ctx->in[0].dtype);
}

/* "LEFT" -> 1, "RIGHT" -> 0, else -1. */
static int shift_dir(const isa_attr *a) {
  if (!a || a->type != ISA_ATTR_STRING || !a->v.s) return -1;
  if (strcmp(a->v.s, "LEFT") == 0) return 1;
  if (strcmp(a->v.s, "RIGHT") == 0) return 0;
  return -1;
}

ivm_status isa_infer_math_bitshift(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1));
  if (!is_unsigned(ctx->in[0].dtype))
    return BAD("input 0: expected an unsigned integer dtype, got %s", iu_dtn(ctx->in[0].dtype));
  if (!ctx->attrs || shift_dir(&ctx->attrs[ISA_A_BitShift_direction]) < 0)
    return BAD("attribute direction: expected \"LEFT\" or \"RIGHT\"");
  return binary_same(ctx, ctx->in[0].dtype);
}

/* X, slope: slope broadcasts to X (unidirectionally); Y has X's type. */
ivm_status isa_infer_math_prelu(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 2, 2, 1));
  const isa_type *x = &ctx->in[0], *s = &ctx->in[1];
  if (!isa_dtype_is_float(x->dtype) && !isa_dtype_is_signed(x->dtype))
    return BAD("input 0: expected a float or signed integer dtype, got %s", iu_dtn(x->dtype));
  if (s->dtype != x->dtype)
    return BAD("input 1 (slope): expected %s (X's dtype), got %s", iu_dtn(x->dtype),
               iu_dtn(s->dtype));
  if (x->rank >= 0 && s->rank >= 0) {
    if (s->rank > x->rank)
      return BAD("input 1 (slope): rank %d exceeds X's rank %d", s->rank, x->rank);
    for (int i = 0; i < s->rank; i++) {
      int64_t d = s->dims[i], want = x->dims[x->rank - s->rank + i];
      if (d >= 0 && want >= 0 && d != 1 && d != want)
        return BAD("input 1 (slope): dim %d is %lld, does not broadcast to %lld", i,
                   (long long)d, (long long)want);
    }
  }
  iu_set_like(&ctx->out[0], x->dtype, x);
  return NULL;
}

/* ---- unary ----------------------------------------------------------------------------- */
ivm_status isa_infer_math_float(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1));
  if (!isa_dtype_is_float(ctx->in[0].dtype))
    return BAD("input 0: expected a float dtype, got %s", iu_dtn(ctx->in[0].dtype));
  iu_set_like(&ctx->out[0], ctx->in[0].dtype, &ctx->in[0]);
  return NULL;
}

ivm_status isa_infer_math_numeric(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1));
  if (!iu_is_numeric(ctx->in[0].dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(ctx->in[0].dtype));
  iu_set_like(&ctx->out[0], ctx->in[0].dtype, &ctx->in[0]);
  return NULL;
}

/* IsNaN, IsInf: float -> bool of the same shape. */
ivm_status isa_infer_math_isclass(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1));
  if (!isa_dtype_is_float(ctx->in[0].dtype))
    return BAD("input 0: expected a float dtype, got %s", iu_dtn(ctx->in[0].dtype));
  iu_set_like(&ctx->out[0], IVM_DT_BOOL, &ctx->in[0]);
  return NULL;
}

ivm_status isa_infer_math_gelu(isa_infer_ctx *ctx) {
  IVM_TRY(isa_infer_math_float(ctx));
  const isa_attr *a = ctx->attrs ? &ctx->attrs[ISA_A_Gelu_approximate] : NULL;
  if (a && (a->type != ISA_ATTR_STRING || !a->v.s ||
            (strcmp(a->v.s, "none") != 0 && strcmp(a->v.s, "tanh") != 0)))
    return BAD("attribute approximate: expected \"none\" or \"tanh\"");
  return NULL;
}

ivm_status isa_infer_math_hardmax(isa_infer_ctx *ctx) {
  IVM_TRY(isa_infer_math_float(ctx));
  int r = ctx->in[0].rank;
  int64_t axis = ctx->attrs ? ctx->attrs[ISA_A_Hardmax_axis].v.i : -1;
  if (r == 0) return BAD("input 0: expected rank >= 1, got 0");
  if (r > 0 && (axis < -r || axis >= r))
    return BAD("attribute axis: %lld out of range for rank %d", (long long)axis, r);
  return NULL;
}

/* ---- reductions: the Step-1 rule (same attribute layout), numeric inputs only ---------- */
ivm_status isa_infer_math_reduce(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 2, 1));
  if (!iu_is_numeric(ctx->in[0].dtype))
    return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(ctx->in[0].dtype));
  return isa_infer_reduce(ctx);
}

/* ---- linear algebra ---------------------------------------------------------------------- */
/* X [..., M, M] float -> Y [...]. */
ivm_status isa_infer_math_det(isa_infer_ctx *ctx) {
  IVM_TRY(check_counts(ctx, 1, 1, 1));
  const isa_type *x = &ctx->in[0];
  if (!isa_dtype_is_float(x->dtype))
    return BAD("input 0: expected a float dtype, got %s", iu_dtn(x->dtype));
  if (x->rank < 0) {
    iu_set_unknown_rank(&ctx->out[0], x->dtype);
    return NULL;
  }
  if (x->rank < 2) return BAD("input 0: expected rank >= 2, got %d", x->rank);
  int64_t m = x->dims[x->rank - 2], n = x->dims[x->rank - 1];
  if (m >= 0 && n >= 0 && m != n)
    return BAD("input 0: expected square matrices, got %lld x %lld", (long long)m, (long long)n);
  iu_set_like(&ctx->out[0], x->dtype, x);
  ctx->out[0].rank = (int8_t)(x->rank - 2);
  return NULL;
}

static int letter_label(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return 26 + (c - 'a');
  return -1;
}

/* One term ("ij", "...ii", ""): letters in order and the ellipsis position (-1: none). */
typedef struct es_term {
  int n;             /* letters */
  int8_t lab[64];    /* letter labels */
  int ell;           /* index in lab before which "..." stands, or -1 */
} es_term;

static ivm_status parse_term(const char *s, size_t len, es_term *t, const char *what, uint32_t k) {
  t->n = 0;
  t->ell = -1;
  for (size_t i = 0; i < len;) {
    if (s[i] == '.') {
      if (i + 3 > len || s[i + 1] != '.' || s[i + 2] != '.')
        return BAD("equation: %s %u: '.' must be part of \"...\"", what, k);
      if (t->ell >= 0) return BAD("equation: %s %u: more than one \"...\"", what, k);
      t->ell = t->n;
      i += 3;
      continue;
    }
    int l = letter_label(s[i]);
    if (l < 0) return BAD("equation: %s %u: invalid character '%c'", what, k, s[i]);
    if (t->n >= 64) return BAD("equation: %s %u: too many labels", what, k);
    t->lab[t->n++] = (int8_t)l;
    i++;
  }
  return NULL;
}

ivm_status isa_einsum_parse(const char *equation, uint32_t n_in, const int *ranks,
                            isa_einsum *out) {
  memset(out, 0, sizeof *out);
  if (!equation) return BAD("equation: missing");
  if (n_in < 1 || n_in > ISA_EINSUM_MAX_IN)
    return BAD("expected 1..%d inputs, got %u", ISA_EINSUM_MAX_IN, n_in);
  char eq[1024];
  size_t L = 0;
  for (const char *p = equation; *p; p++) {
    if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') continue;
    if (L + 1 >= sizeof eq) return BAD("equation: too long");
    eq[L++] = *p;
  }
  eq[L] = 0;
  const char *arrow = strstr(eq, "->");
  size_t lhs_len = arrow ? (size_t)(arrow - eq) : L;
  if (arrow && strstr(arrow + 2, "->")) return BAD("equation: more than one \"->\"");
  if (memchr(eq, '-', lhs_len) || memchr(eq, '>', lhs_len))
    return BAD("equation: stray '-' or '>'");
  out->n_in = n_in;

  int count[ISA_EINSUM_LETTERS] = {0};
  const char *s = eq;
  uint32_t k = 0;
  int ell_rank = 0;
  for (;;) {
    const char *comma = memchr(s, ',', lhs_len - (size_t)(s - eq));
    size_t tl = comma ? (size_t)(comma - s) : lhs_len - (size_t)(s - eq);
    if (k >= n_in) return BAD("equation: more terms than the %u inputs", n_in);
    es_term t;
    IVM_TRY(parse_term(s, tl, &t, "input", k));
    int r = ranks[k];
    for (int i = 0; i < t.n; i++) {
      count[t.lab[i]]++;
      out->used[t.lab[i]] = 1;
    }
    if (r < 0) {
      out->in_rank[k] = -1;
      if (t.ell >= 0) out->ell_unknown = 1;
    } else {
      int e = t.ell >= 0 ? r - t.n : 0;
      if (t.ell < 0 && r != t.n)
        return BAD("equation: input %u has %d labels but rank %d", k, t.n, r);
      if (e < 0) return BAD("equation: input %u has %d labels but rank %d", k, t.n, r);
      if (r > ISA_MAX_RANK) return BAD("input %u: rank %d too large", k, r);
      if (e > ell_rank) ell_rank = e;
      out->in_rank[k] = r;
      /* ellipsis dims are labelled once ell_rank is known (below); mark them -1 - i */
      int ax = 0;
      for (int i = 0; i <= t.n; i++) {
        if (i == t.ell)
          for (int j = 0; j < e; j++) out->in_label[k][ax++] = (int8_t)(-1 - (e - j));
        if (i < t.n) out->in_label[k][ax++] = t.lab[i];
      }
    }
    k++;
    if (!comma) break;
    s = comma + 1;
  }
  if (k != n_in) return BAD("equation: %u terms for %u inputs", k, n_in);
  out->ell_rank = ell_rank;
  /* ellipsis dims, right-aligned: the i-th from the end is label 52 + ell_rank - i */
  for (k = 0; k < n_in; k++)
    for (int a = 0; a < out->in_rank[k]; a++) {
      int v = out->in_label[k][a];
      if (v < 0) { /* v = -1 - (e - j) for ellipsis dim j of e */
        out->in_label[k][a] = (int8_t)(ISA_EINSUM_LETTERS + ell_rank + 1 + v);
        out->used[ISA_EINSUM_LETTERS + ell_rank + 1 + v] = 1;
      }
    }

  /* output */
  int8_t olab[64];
  int on = 0, oell = -1;
  if (arrow) {
    es_term t;
    IVM_TRY(parse_term(arrow + 2, strlen(arrow + 2), &t, "output", 0));
    uint8_t seen[ISA_EINSUM_LETTERS] = {0};
    for (int i = 0; i < t.n; i++) {
      if (!count[t.lab[i]]) return BAD("equation: output label %d does not occur in the inputs", t.lab[i]);
      if (seen[t.lab[i]]) return BAD("equation: output label repeated");
      seen[t.lab[i]] = 1;
    }
    if (t.ell < 0 && ell_rank > 0)
      return BAD("equation: the inputs' \"...\" dims need \"...\" in the output");
    on = t.n;
    memcpy(olab, t.lab, (size_t)t.n);
    oell = t.ell;
  } else {
    oell = 0;
    for (int l = 0; l < ISA_EINSUM_LETTERS; l++)
      if (count[l] == 1) olab[on++] = (int8_t)l;
  }
  if (out->ell_unknown) {
    out->out_rank = -1;
    return NULL;
  }
  int R = on + (oell >= 0 ? ell_rank : 0);
  if (R > ISA_MAX_RANK) return BAD("equation: output rank %d exceeds %d", R, ISA_MAX_RANK);
  int ax = 0;
  for (int i = 0; i <= on; i++) {
    if (i == oell)
      for (int j = 0; j < ell_rank; j++) out->out_label[ax++] = (int8_t)(ISA_EINSUM_LETTERS + j);
    if (i < on) out->out_label[ax++] = olab[i];
  }
  out->out_rank = R;
  return NULL;
}

ivm_status isa_infer_math_einsum(isa_infer_ctx *ctx) {
  if (ctx->n_in < 1 || ctx->n_in > ISA_EINSUM_MAX_IN)
    return BAD("expected 1..%d inputs, got %u", ISA_EINSUM_MAX_IN, ctx->n_in);
  IVM_TRY(check_counts(ctx, ctx->n_in, ctx->n_in, 1));
  int dt = ctx->in[0].dtype;
  if (!iu_is_numeric(dt)) return BAD("input 0: expected a numeric dtype, got %s", iu_dtn(dt));
  int ranks[ISA_EINSUM_MAX_IN];
  for (uint32_t k = 0; k < ctx->n_in; k++) {
    if (ctx->in[k].dtype != dt)
      return BAD("input %u: expected %s (input 0's dtype), got %s", k, iu_dtn(dt),
                 iu_dtn(ctx->in[k].dtype));
    ranks[k] = ctx->in[k].rank;
  }
  const isa_attr *a = ctx->attrs ? &ctx->attrs[ISA_A_Einsum_equation] : NULL;
  if (!a || a->type != ISA_ATTR_STRING || !a->v.s) return BAD("attribute equation: missing");
  isa_einsum e;
  IVM_TRY(isa_einsum_parse(a->v.s, ctx->n_in, ranks, &e));
  /* label sizes: equal where known, 1 broadcasts (not within one input: diagonals) */
  int64_t size[ISA_EINSUM_MAX_LABELS];
  for (int l = 0; l < ISA_EINSUM_MAX_LABELS; l++) size[l] = 1;
  uint8_t unknown[ISA_EINSUM_MAX_LABELS] = {0};
  for (uint32_t k = 0; k < ctx->n_in; k++) {
    for (int i = 0; i < e.in_rank[k]; i++) {
      int l = e.in_label[k][i];
      int64_t d = ctx->in[k].dims[i];
      for (int j = 0; j < i; j++)
        if (e.in_label[k][j] == l && d >= 0 && ctx->in[k].dims[j] >= 0 && ctx->in[k].dims[j] != d)
          return BAD("input %u: repeated label on dims of size %lld and %lld", k,
                     (long long)ctx->in[k].dims[j], (long long)d);
      if (d < 0) {
        unknown[l] = 1;
        continue;
      }
      if (d == 1) continue;
      if (size[l] != 1 && size[l] != d)
        return BAD("input %u: dim %d is %lld, expected %lld for its label", k, i, (long long)d,
                   (long long)size[l]);
      size[l] = d;
    }
  }
  isa_type *o = &ctx->out[0];
  iu_set_unknown_rank(o, dt);
  if (e.out_rank < 0) return NULL;
  o->rank = (int8_t)e.out_rank;
  for (int i = 0; i < e.out_rank; i++) {
    int l = e.out_label[i];
    o->dims[i] = unknown[l] && size[l] == 1 ? ISA_DIM_ANY : size[l];
  }
  return NULL;
}
