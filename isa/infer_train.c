/* Shape and type inference for the train family (isa/ops_train.def): the optimizers
 * Adagrad, Adam and Momentum (ONNX ai.onnx.preview.training), TfIdfVectorizer and
 * training-mode Dropout. */
#include <string.h>

#include "isa/infer_train.h"
#include "isa/infer_util.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

static ivm_status check_rank(const isa_type *t, uint32_t i) {
  if (t->rank < -1 || t->rank > ISA_MAX_RANK) return ERR("input %u: bad rank %d", i, t->rank);
  return NULL;
}

/* A tensor that must hold exactly one element (rank 0, or all dims 1). */
static ivm_status check_scalar(const isa_type *t, uint32_t i) {
  if (t->rank < 0) return NULL;
  for (int k = 0; k < t->rank; k++)
    if (t->dims[k] >= 0 && t->dims[k] != 1)
      return ERR("input %u: expected one element, got dim %d = %lld", i, k,
                 (long long)t->dims[k]);
  return NULL;
}

/* *acc := the shape both *acc and *b describe (unknown dims filled from the other). */
static ivm_status merge_shape(isa_type *acc, const isa_type *b, uint32_t i) {
  if (b->rank < 0) return NULL;
  if (acc->rank < 0) {
    acc->rank = b->rank;
    memcpy(acc->dims, b->dims, sizeof acc->dims);
    return NULL;
  }
  if (acc->rank != b->rank)
    return ERR("input %u: rank %d differs from its group's rank %d", i, b->rank, acc->rank);
  for (int k = 0; k < acc->rank; k++) {
    int64_t x = acc->dims[k], y = b->dims[k];
    if (x >= 0 && y >= 0 && x != y)
      return ERR("input %u: dim %d is %lld, its group has %lld", i, k, (long long)y,
                 (long long)x);
    if (x < 0 && y >= 0) acc->dims[k] = y;
    else if (x < 0 && y < 0 && x != y) acc->dims[k] = ISA_DIM_ANY;
  }
  return NULL;
}

/* Inputs R, T, then k groups of n tensors (X, G, states); outputs the X's then the
 * states: (k - 1) * n at most, trailing ones may be absent. */
static ivm_status infer_optimizer(isa_infer_ctx *ctx, uint32_t k, const char *op) {
  if (ctx->n_in < 2 + k || (ctx->n_in - 2) % k != 0)
    return ERR("%s: expected 2 + %u*n inputs (R, T, then %u groups of n), got %u", op, k, k,
               ctx->n_in);
  uint32_t n = (ctx->n_in - 2) / k;
  if (ctx->n_out < 1 || ctx->n_out > (k - 1) * n)
    return ERR("%s: expected 1..%u outputs, got %u", op, (k - 1) * n, ctx->n_out);
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    if (!iu_present(ctx, i)) return ERR("input %u is required", i);
    IVM_TRY(check_rank(&ctx->in[i], i));
  }
  int rdt = ctx->in[0].dtype;
  if (rdt != IVM_DT_F32 && rdt != IVM_DT_F64)
    return ERR("input 0 (R): expected f32 or f64, got %s", iu_dtn(rdt));
  IVM_TRY(check_scalar(&ctx->in[0], 0));
  if (ctx->in[1].dtype != IVM_DT_I64)
    return ERR("input 1 (T): expected i64, got %s", iu_dtn(ctx->in[1].dtype));
  IVM_TRY(check_scalar(&ctx->in[1], 1));
  int dt = ctx->in[2].dtype;
  if (dt != IVM_DT_F32 && dt != IVM_DT_F64)
    return ERR("input 2: expected f32 or f64, got %s", iu_dtn(dt));
  for (uint32_t i = 3; i < ctx->n_in; i++)
    if (ctx->in[i].dtype != dt)
      return ERR("input %u: expected %s, got %s", i, iu_dtn(dt), iu_dtn(ctx->in[i].dtype));
  for (uint32_t o = 0; o < ctx->n_out; o++) {
    uint32_t i = o % n;
    isa_type t;
    memset(&t, 0, sizeof t);
    t.dtype = (uint8_t)dt;
    t.rank = -1;
    for (uint32_t g = 0; g < k; g++) IVM_TRY(merge_shape(&t, &ctx->in[2 + g * n + i], 2 + g * n + i));
    ctx->out[o] = t;
  }
  return NULL;
}

ivm_status isa_infer_train_adagrad(isa_infer_ctx *ctx) {
  return infer_optimizer(ctx, 3, "Adagrad");
}

ivm_status isa_infer_train_adam(isa_infer_ctx *ctx) { return infer_optimizer(ctx, 4, "Adam"); }

ivm_status isa_infer_train_momentum(isa_infer_ctx *ctx) {
  const isa_attr *m = &ctx->attrs[ISA_A_Momentum_mode];
  const char *s = m->type == ISA_ATTR_STRING && m->v.s ? m->v.s : "";
  if (strcmp(s, "standard") != 0 && strcmp(s, "nesterov") != 0)
    return ERR("mode: expected 'standard' or 'nesterov', got '%s'", s);
  return infer_optimizer(ctx, 3, "Momentum");
}

/* ---- TfIdfVectorizer ------------------------------------------------------------------ */
#define TFIDF_MAX ((int64_t)1 << 40)

void isa_train_tfidf_level(const isa_train_tfidf *p, int64_t L, int64_t *begin, int64_t *end) {
  *begin = *end = 0;
  if (L < 1 || L > (int64_t)p->n_levels) return;
  *begin = p->counts[L - 1];
  *end = L < (int64_t)p->n_levels ? p->counts[L] : (int64_t)p->n_pool;
}

ivm_status isa_train_tfidf_resolve(const isa_attr *at, isa_train_tfidf *p) {
  memset(p, 0, sizeof *p);
  const isa_attr *m = &at[ISA_A_TfIdfVectorizer_mode];
  const char *s = m->type == ISA_ATTR_STRING && m->v.s ? m->v.s : "";
  if (!strcmp(s, "TF")) p->mode = ISA_TRAIN_TF;
  else if (!strcmp(s, "IDF")) p->mode = ISA_TRAIN_IDF;
  else if (!strcmp(s, "TFIDF")) p->mode = ISA_TRAIN_TFIDF;
  else return ERR("mode: expected TF, IDF or TFIDF, got '%s'", s);
  p->min_gram = at[ISA_A_TfIdfVectorizer_min_gram_length].v.i;
  p->max_gram = at[ISA_A_TfIdfVectorizer_max_gram_length].v.i;
  p->max_skip = at[ISA_A_TfIdfVectorizer_max_skip_count].v.i;
  if (p->min_gram < 1 || p->max_gram < p->min_gram || p->max_gram > TFIDF_MAX)
    return ERR("min_gram_length %lld / max_gram_length %lld: need 1 <= min <= max",
               (long long)p->min_gram, (long long)p->max_gram);
  if (p->max_skip < 0) return ERR("max_skip_count %lld < 0", (long long)p->max_skip);
  const isa_attr *c = &at[ISA_A_TfIdfVectorizer_ngram_counts];
  const isa_attr *x = &at[ISA_A_TfIdfVectorizer_ngram_indexes];
  const isa_attr *pl = &at[ISA_A_TfIdfVectorizer_pool_int64s];
  const isa_attr *w = &at[ISA_A_TfIdfVectorizer_weights];
  if (c->type != ISA_ATTR_INTS || x->type != ISA_ATTR_INTS || pl->type != ISA_ATTR_INTS ||
      w->type != ISA_ATTR_FLOATS)
    return ERR("TfIdfVectorizer: bad attribute types");
  p->n_levels = c->count;
  p->counts = c->count ? c->v.ints : NULL;
  p->n_pool = pl->count;
  p->pool = pl->count ? pl->v.ints : NULL;
  p->n_grams = x->count;
  p->indexes = x->count ? x->v.ints : NULL;
  p->weights = w->count ? w->v.floats : NULL;
  if (p->n_levels == 0) return ERR("ngram_counts is empty");
  int64_t total = 0, prev = 0;
  for (uint32_t i = 0; i < p->n_levels; i++) {
    int64_t b, e, L = (int64_t)i + 1;
    if (p->counts[i] < prev || p->counts[i] > (int64_t)p->n_pool)
      return ERR("ngram_counts[%u] = %lld: expected non-decreasing values in [0, %u]", i,
                 (long long)p->counts[i], p->n_pool);
    prev = p->counts[i];
    isa_train_tfidf_level(p, L, &b, &e);
    if ((e - b) % L != 0)
      return ERR("pool_int64s: %lld values of %lld-grams is not a multiple of %lld",
                 (long long)(e - b), (long long)L, (long long)L);
    total += (e - b) / L;
  }
  if (total != (int64_t)p->n_grams)
    return ERR("ngram_indexes has %u values, the pool holds %lld n-grams", p->n_grams,
               (long long)total);
  if (w->count && w->count != p->n_grams)
    return ERR("weights has %u values, expected %u", w->count, p->n_grams);
  int64_t mx = -1;
  for (uint32_t j = 0; j < p->n_grams; j++) {
    if (p->indexes[j] < 0 || p->indexes[j] >= TFIDF_MAX)
      return ERR("ngram_indexes[%u] = %lld out of range", j, (long long)p->indexes[j]);
    if (p->indexes[j] > mx) mx = p->indexes[j];
  }
  p->out_size = mx + 1;
  return NULL;
}

ivm_status isa_infer_train_tfidf(isa_infer_ctx *ctx) {
  if (ctx->n_in != 1 || !iu_present(ctx, 0) || ctx->n_out != 1)
    return ERR("TfIdfVectorizer: expected 1 input and 1 output");
  const isa_type *x = &ctx->in[0];
  IVM_TRY(check_rank(x, 0));
  if (x->dtype != IVM_DT_I32 && x->dtype != IVM_DT_I64)
    return ERR("input 0: expected i32 or i64, got %s", iu_dtn(x->dtype));
  isa_train_tfidf p;
  IVM_TRY(isa_train_tfidf_resolve(ctx->attrs, &p));
  isa_type *y = &ctx->out[0];
  memset(y, 0, sizeof *y);
  y->dtype = IVM_DT_F32;
  if (x->rank < 0) {
    y->rank = -1;
    return NULL;
  }
  if (x->rank == 1) {
    y->rank = 1;
    y->dims[0] = p.out_size;
  } else if (x->rank == 2) {
    y->rank = 2;
    y->dims[0] = x->dims[0];
    y->dims[1] = p.out_size;
  } else {
    return ERR("input 0: expected rank 1 or 2, got %d", x->rank);
  }
  return NULL;
}

/* ---- Dropout -------------------------------------------------------------------------- */
static int is_float(int dt) {
  return dt == IVM_DT_F32 || dt == IVM_DT_F64 || dt == IVM_DT_F16 || dt == IVM_DT_BF16;
}

ivm_status isa_infer_train_dropout(isa_infer_ctx *ctx) {
  if (ctx->n_in < 1 || ctx->n_in > 3 || !iu_present(ctx, 0))
    return ERR("Dropout: expected 1..3 inputs with X present");
  if (ctx->n_out < 1 || ctx->n_out > 2) return ERR("Dropout: expected 1..2 outputs");
  for (uint32_t i = 0; i < ctx->n_in; i++)
    if (iu_present(ctx, i)) IVM_TRY(check_rank(&ctx->in[i], i));
  const isa_type *x = &ctx->in[0];
  if (!is_float(x->dtype)) return ERR("input 0: expected a float dtype, got %s", iu_dtn(x->dtype));
  double ratio = 0.5;
  int ratio_known = 1, training = 0, training_known = 1;
  if (iu_present(ctx, 1)) {
    int dt = ctx->in[1].dtype;
    if (!is_float(dt)) return ERR("input 1 (ratio): expected a float dtype, got %s", iu_dtn(dt));
    IVM_TRY(check_scalar(&ctx->in[1], 1));
    const void *d = ctx->in_data ? ctx->in_data[1] : NULL;
    if (!d) ratio_known = 0;
    else if (dt == IVM_DT_F32) ratio = *(const float *)d;
    else if (dt == IVM_DT_F64) ratio = *(const double *)d;
    else if (dt == IVM_DT_F16) ratio = isa_f16_to_f32(*(const uint16_t *)d);
    else ratio = isa_bf16_to_f32(*(const uint16_t *)d);
  }
  if (iu_present(ctx, 2)) {
    if (ctx->in[2].dtype != IVM_DT_BOOL)
      return ERR("input 2 (training_mode): expected bool, got %s", iu_dtn(ctx->in[2].dtype));
    IVM_TRY(check_scalar(&ctx->in[2], 2));
    const void *d = ctx->in_data ? ctx->in_data[2] : NULL;
    if (!d) training_known = 0;
    else training = *(const uint8_t *)d != 0;
  }
  if (ratio_known && training_known && training && !(ratio >= 0.0 && ratio < 1.0))
    return ERR("ratio %g: expected a value in [0, 1)", ratio);
  ctx->out[0] = *x;
  if (ctx->n_out > 1) {
    ctx->out[1] = *x;
    ctx->out[1].dtype = IVM_DT_BOOL;
  }
  return NULL;
}
