/* Shape and type inference for the quant family: QuantizeLinear, DequantizeLinear,
 * DynamicQuantizeLinear, MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv,
 * SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLoss (isa/ops_quant.def). The matmul
 * and conv shape rules are the Step-1 ones (isa_infer_matmul / isa_infer_conv), run on a
 * copy of the context with the operand dtypes replaced. */
#include <string.h>

#include "isa/infer_quant.h"
#include "isa/infer_util.h"

#define BAD(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* QLinearConv / ConvInteger share Conv's attribute order, so Conv's slots index them. */
_Static_assert((int)ISA_A_QLinearConv_auto_pad == (int)ISA_A_Conv_auto_pad &&
                   (int)ISA_A_QLinearConv_dilations == (int)ISA_A_Conv_dilations &&
                   (int)ISA_A_QLinearConv_group == (int)ISA_A_Conv_group &&
                   (int)ISA_A_QLinearConv_kernel_shape == (int)ISA_A_Conv_kernel_shape &&
                   (int)ISA_A_QLinearConv_pads == (int)ISA_A_Conv_pads &&
                   (int)ISA_A_QLinearConv_strides == (int)ISA_A_Conv_strides &&
                   (int)ISA_A_QLinearConv__count == (int)ISA_A_Conv__count &&
                   (int)ISA_A_ConvInteger__count == (int)ISA_A_Conv__count,
               "quant conv attributes must mirror Conv's");

static ivm_status check_arity(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                              uint32_t min_out, uint32_t max_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return BAD("expected %u..%u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out < min_out || ctx->n_out > max_out)
    return BAD("expected %u..%u outputs, got %u", min_out, max_out, ctx->n_out);
  for (uint32_t i = 0; i < min_in; i++)
    if (!iu_present(ctx, i)) return BAD("input %u is required", i);
  for (uint32_t i = 0; i < ctx->n_in; i++) {
    int r = ctx->in[i].rank;
    if (iu_present(ctx, i) && (r < -1 || r > ISA_MAX_RANK))
      return BAD("input %u: bad rank %d", i, r);
  }
  return NULL;
}

static int one_of(int dt, const int *allowed) {
  for (; *allowed; allowed++)
    if (*allowed == dt) return 1;
  return 0;
}

static ivm_status check_dtype(const isa_infer_ctx *ctx, uint32_t i, const int *allowed) {
  if (!one_of(ctx->in[i].dtype, allowed))
    return BAD("input %u: unsupported dtype %s", i, iu_dtn(ctx->in[i].dtype));
  return NULL;
}

static ivm_status same_dtype(const isa_infer_ctx *ctx, uint32_t i, uint32_t j) {
  if (ctx->in[i].dtype != ctx->in[j].dtype)
    return BAD("input %u: expected %s (input %u's dtype), got %s", j, iu_dtn(ctx->in[i].dtype), i,
               iu_dtn(ctx->in[j].dtype));
  return NULL;
}

/* All dims known? */
static int known(const isa_type *t) {
  if (t->rank < 0) return 0;
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0) return 0;
  return 1;
}

static void set_scalar(isa_type *o, int dtype) {
  memset(o, 0, sizeof *o);
  o->dtype = (uint8_t)dtype;
}

static const int k_q8[] = {IVM_DT_U8, IVM_DT_I8, 0};
static const int k_qout[] = {IVM_DT_U8, IVM_DT_I8, IVM_DT_U16, IVM_DT_I16, 0};
static const int k_qin[] = {IVM_DT_U8, IVM_DT_I8, IVM_DT_U16, IVM_DT_I16, IVM_DT_I32, 0};
static const int k_qfloat[] = {IVM_DT_F32, IVM_DT_F16, IVM_DT_BF16, 0};
static const int k_f32[] = {IVM_DT_F32, 0};
static const int k_i32[] = {IVM_DT_I32, 0};
static const int k_loss_float[] = {IVM_DT_F32, IVM_DT_F64, IVM_DT_F16, IVM_DT_BF16, 0};
static const int k_index[] = {IVM_DT_I32, IVM_DT_I64, 0};

/* ---- parameter layout ----------------------------------------------------------------- */
ivm_status isa_quant_layout(int x_rank, const int64_t *x_dims, int p_rank, const int64_t *p_dims,
                            int64_t axis, int64_t block_size, isa_qlayout *out) {
  memset(out, 0, sizeof *out);
  if (x_rank < 0 || x_rank > ISA_MAX_RANK || p_rank < 0 || p_rank > ISA_MAX_RANK)
    return BAD("bad ranks %d, %d", x_rank, p_rank);
  if (block_size < 0) return BAD("block_size must be >= 0, got %lld", (long long)block_size);
  int64_t pn = 1, xn = 1;
  for (int i = 0; i < p_rank; i++) pn *= p_dims[i];
  for (int i = 0; i < x_rank; i++) xn *= x_dims[i];
  out->outer = out->n = out->block = out->nblk = 1;
  out->inner = xn;
  if (pn == 1 && (p_rank <= 1 || block_size > 0)) {
    out->mode = ISA_QL_TENSOR;
    return NULL;
  }
  if (axis < -x_rank || axis >= x_rank)
    return BAD("axis %lld out of range for rank %d", (long long)axis, x_rank);
  int a = (int)(axis < 0 ? axis + x_rank : axis);
  out->outer = out->inner = 1;
  for (int i = 0; i < a; i++) out->outer *= x_dims[i];
  for (int i = a + 1; i < x_rank; i++) out->inner *= x_dims[i];
  out->n = x_dims[a];
  if (block_size == 0) {
    if (p_rank != 1 || p_dims[0] != x_dims[a])
      return BAD("per-axis scale/zero point must be 1-D of length %lld (dim %d)",
                 (long long)x_dims[a], a);
    out->mode = ISA_QL_AXIS;
    return NULL;
  }
  if (p_rank != x_rank) return BAD("blocked scale/zero point must have rank %d", x_rank);
  int64_t nb = x_dims[a] / block_size + (x_dims[a] % block_size != 0);
  for (int i = 0; i < x_rank; i++)
    if (p_dims[i] != (i == a ? nb : x_dims[i]))
      return BAD("blocked scale/zero point dim %d is %lld, expected %lld", i,
                 (long long)p_dims[i], (long long)(i == a ? nb : x_dims[i]));
  out->mode = ISA_QL_BLOCK;
  out->block = block_size;
  out->nblk = nb;
  return NULL;
}

/* Checks parameter input p against x where shapes are known. */
static ivm_status check_qparam(const isa_infer_ctx *ctx, uint32_t x, uint32_t p, int64_t axis,
                               int64_t block_size) {
  if (block_size < 0) return BAD("block_size must be >= 0, got %lld", (long long)block_size);
  if (!iu_present(ctx, p) || !known(&ctx->in[x]) || !known(&ctx->in[p])) return NULL;
  isa_qlayout l;
  return ivm_status_wrap(isa_quant_layout(ctx->in[x].rank, ctx->in[x].dims, ctx->in[p].rank,
                                          ctx->in[p].dims, axis, block_size, &l),
                         "input %u", p);
}

/* Scale and zero point must have the same shape where both are known. */
static ivm_status same_shape(const isa_infer_ctx *ctx, uint32_t i, uint32_t j) {
  if (!iu_present(ctx, i) || !iu_present(ctx, j)) return NULL;
  const isa_type *a = &ctx->in[i], *b = &ctx->in[j];
  if (a->rank < 0 || b->rank < 0) return NULL;
  int64_t na = iu_known_numel(a), nb = iu_known_numel(b);
  if (na == 1 && nb == 1 && a->rank <= 1 && b->rank <= 1) return NULL;
  if (a->rank != b->rank) return BAD("input %u: shape differs from input %u's", j, i);
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] >= 0 && b->dims[k] >= 0 && a->dims[k] != b->dims[k])
      return BAD("input %u: shape differs from input %u's", j, i);
  return NULL;
}

/* ---- QuantizeLinear / DequantizeLinear ------------------------------------------------ */
ivm_status isa_infer_quant_quantize(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_qfloat));
  IVM_TRY(check_dtype(ctx, 1, k_qfloat));
  int64_t axis = iu_attr_i(ctx, ISA_A_QuantizeLinear_axis, 1);
  int64_t bs = iu_attr_i(ctx, ISA_A_QuantizeLinear_block_size, 0);
  int64_t odt = iu_attr_i(ctx, ISA_A_QuantizeLinear_output_dtype, 0);
  int64_t sat = iu_attr_i(ctx, ISA_A_QuantizeLinear_saturate, 1);
  if (sat != 0 && sat != 1) return BAD("saturate must be 0 or 1, got %lld", (long long)sat);
  int dt = IVM_DT_U8;
  if (odt != 0) {
    if (!one_of((int)odt, k_qout) || odt != (int)odt)
      return BAD("output_dtype %lld not supported", (long long)odt);
    dt = (int)odt;
  }
  if (iu_present(ctx, 2)) {
    IVM_TRY(check_dtype(ctx, 2, k_qout));
    if (odt != 0 && ctx->in[2].dtype != odt)
      return BAD("output_dtype %s differs from the zero point's %s", iu_dtn((int)odt),
                 iu_dtn(ctx->in[2].dtype));
    dt = ctx->in[2].dtype;
  }
  IVM_TRY(check_qparam(ctx, 0, 1, axis, bs));
  IVM_TRY(check_qparam(ctx, 0, 2, axis, bs));
  IVM_TRY(same_shape(ctx, 1, 2));
  iu_set_like(&ctx->out[0], dt, &ctx->in[0]);
  return NULL;
}

ivm_status isa_infer_quant_dequantize(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_qin));
  IVM_TRY(check_dtype(ctx, 1, k_qfloat));
  if (iu_present(ctx, 2)) IVM_TRY(same_dtype(ctx, 0, 2));
  int64_t axis = iu_attr_i(ctx, ISA_A_DequantizeLinear_axis, 1);
  int64_t bs = iu_attr_i(ctx, ISA_A_DequantizeLinear_block_size, 0);
  int64_t odt = iu_attr_i(ctx, ISA_A_DequantizeLinear_output_dtype, 0);
  if (odt != 0 && odt != ctx->in[1].dtype)
    return BAD("output_dtype %lld differs from the scale's %s", (long long)odt,
               iu_dtn(ctx->in[1].dtype));
  IVM_TRY(check_qparam(ctx, 0, 1, axis, bs));
  IVM_TRY(check_qparam(ctx, 0, 2, axis, bs));
  IVM_TRY(same_shape(ctx, 1, 2));
  iu_set_like(&ctx->out[0], ctx->in[1].dtype, &ctx->in[0]);
  return NULL;
}

ivm_status isa_infer_quant_dynamic(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 3, 3));
  IVM_TRY(check_dtype(ctx, 0, k_f32));
  iu_set_like(&ctx->out[0], IVM_DT_U8, &ctx->in[0]);
  set_scalar(&ctx->out[1], IVM_DT_F32);
  set_scalar(&ctx->out[2], IVM_DT_U8);
  return NULL;
}

/* ---- integer matmul ----------------------------------------------------------------------- */
/* MatMul's shape rule on a (dtype-neutral) copy of inputs a and b. */
static ivm_status matmul_shape(const isa_infer_ctx *ctx, uint32_t a, uint32_t b, int dtype) {
  isa_type in[2] = {ctx->in[a], ctx->in[b]};
  in[0].dtype = in[1].dtype = IVM_DT_I32;
  const void *data[2] = {NULL, NULL};
  isa_infer_ctx sub = {2, in, data, NULL, 1, ctx->out};
  IVM_TRY(isa_infer_matmul(&sub));
  ctx->out[0].dtype = (uint8_t)dtype;
  return NULL;
}

/* A zero point / scale for the rows (per_row) or columns of matrix operand m: one
 * element, a 1-D vector of the row (column) count, or (for zero points of MatMulInteger)
 * the operand's shape with the reduced dim 1. */
static ivm_status check_mm_param(const isa_infer_ctx *ctx, uint32_t m, uint32_t p, int per_row,
                                 int allow_nd) {
  const isa_type *t = &ctx->in[m], *q = &ctx->in[p];
  if (q->rank < 0) return NULL;
  int64_t n = iu_known_numel(q);
  if (n == 1 && q->rank <= 1) return NULL;
  int64_t want = ISA_DIM_ANY;
  if (t->rank >= 1) {
    if (per_row) want = t->rank == 1 ? 1 : t->dims[t->rank - 2];
    else want = t->rank == 1 ? 1 : t->dims[t->rank - 1];
  }
  if (q->rank == 1) {
    if (want >= 0 && q->dims[0] >= 0 && q->dims[0] != want)
      return BAD("input %u: expected 1 or %lld elements, got %lld", p, (long long)want,
                 (long long)q->dims[0]);
    return NULL;
  }
  if (!allow_nd || t->rank < 2) return BAD("input %u: must be a scalar or 1-D", p);
  if (t->rank >= 0 && q->rank != t->rank) return BAD("input %u: expected rank %d", p, t->rank);
  for (int k = 0; k < q->rank; k++) {
    int64_t w = t->dims[k];
    if (k == q->rank - (per_row ? 1 : 2)) w = 1;
    if (w >= 0 && q->dims[k] >= 0 && q->dims[k] != w)
      return BAD("input %u: dim %d is %lld, expected %lld", p, k, (long long)q->dims[k],
                 (long long)w);
  }
  return NULL;
}

ivm_status isa_infer_quant_matmul_integer(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 4, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_q8));
  IVM_TRY(check_dtype(ctx, 1, k_q8));
  if (iu_present(ctx, 2)) {
    IVM_TRY(same_dtype(ctx, 0, 2));
    IVM_TRY(check_mm_param(ctx, 0, 2, 1, 1));
  }
  if (iu_present(ctx, 3)) {
    IVM_TRY(same_dtype(ctx, 1, 3));
    IVM_TRY(check_mm_param(ctx, 1, 3, 0, 1));
  }
  return matmul_shape(ctx, 0, 1, IVM_DT_I32);
}

ivm_status isa_infer_quant_qlinear_matmul(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 8, 8, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_q8));
  IVM_TRY(check_dtype(ctx, 3, k_q8));
  IVM_TRY(check_dtype(ctx, 7, k_q8));
  IVM_TRY(same_dtype(ctx, 0, 2));
  IVM_TRY(same_dtype(ctx, 3, 5));
  IVM_TRY(check_dtype(ctx, 1, k_f32));
  IVM_TRY(check_dtype(ctx, 4, k_f32));
  IVM_TRY(check_dtype(ctx, 6, k_f32));
  IVM_TRY(check_mm_param(ctx, 0, 1, 1, 0));
  IVM_TRY(check_mm_param(ctx, 0, 2, 1, 0));
  IVM_TRY(check_mm_param(ctx, 3, 4, 0, 0));
  IVM_TRY(check_mm_param(ctx, 3, 5, 0, 0));
  IVM_TRY(check_mm_param(ctx, 0, 6, 1, 0)); /* y's rows are a's rows */
  IVM_TRY(check_mm_param(ctx, 0, 7, 1, 0));
  return matmul_shape(ctx, 0, 3, ctx->in[7].dtype);
}

/* ---- integer conv ------------------------------------------------------------------------ */
/* Conv's shape rule on a copy of x, w (and the bias for M). */
static ivm_status conv_shape(const isa_infer_ctx *ctx, uint32_t x, uint32_t w, int has_b,
                             uint32_t b, int dtype) {
  isa_type in[3] = {ctx->in[x], ctx->in[w], has_b ? ctx->in[b] : ctx->in[x]};
  for (int i = 0; i < 3; i++) in[i].dtype = IVM_DT_F32;
  const void *data[3] = {NULL, NULL, NULL};
  isa_attr defaults[ISA_A_Conv__count];
  const isa_attr *attrs = ctx->attrs;
  if (!attrs) {
    isa_attrs_init_defaults(isa_builtin_desc(ISA_OP_Conv), defaults);
    attrs = defaults;
  }
  isa_infer_ctx sub = {has_b ? 3u : 2u, in, data, attrs, 1, ctx->out};
  IVM_TRY(isa_infer_conv(&sub));
  ctx->out[0].dtype = (uint8_t)dtype;
  return NULL;
}

/* One element (rank <= 1). */
static ivm_status check_scalar(const isa_infer_ctx *ctx, uint32_t p) {
  const isa_type *q = &ctx->in[p];
  int64_t n = iu_known_numel(q);
  if (q->rank > 1 || (n >= 0 && n != 1)) return BAD("input %u: must have one element", p);
  return NULL;
}

/* One element or a 1-D vector of w's output channel count. */
static ivm_status check_per_channel(const isa_infer_ctx *ctx, uint32_t w, uint32_t p) {
  const isa_type *q = &ctx->in[p];
  if (q->rank < 0) return NULL;
  if (q->rank > 1) return BAD("input %u: must be a scalar or 1-D", p);
  if (q->rank == 0 || q->dims[0] == 1 || q->dims[0] < 0) return NULL;
  int64_t m = ctx->in[w].rank >= 1 ? ctx->in[w].dims[0] : ISA_DIM_ANY;
  if (m >= 0 && q->dims[0] != m)
    return BAD("input %u: expected 1 or %lld elements, got %lld", p, (long long)m,
               (long long)q->dims[0]);
  return NULL;
}

ivm_status isa_infer_quant_conv_integer(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 4, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_q8));
  IVM_TRY(check_dtype(ctx, 1, k_q8));
  if (iu_present(ctx, 2)) {
    IVM_TRY(same_dtype(ctx, 0, 2));
    IVM_TRY(check_scalar(ctx, 2));
  }
  if (iu_present(ctx, 3)) {
    IVM_TRY(same_dtype(ctx, 1, 3));
    IVM_TRY(check_per_channel(ctx, 1, 3));
  }
  return conv_shape(ctx, 0, 1, 0, 0, IVM_DT_I32);
}

ivm_status isa_infer_quant_qlinear_conv(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 8, 9, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_q8));
  IVM_TRY(check_dtype(ctx, 3, k_q8));
  IVM_TRY(check_dtype(ctx, 7, k_q8));
  IVM_TRY(same_dtype(ctx, 0, 2));
  IVM_TRY(same_dtype(ctx, 3, 5));
  IVM_TRY(check_dtype(ctx, 1, k_f32));
  IVM_TRY(check_dtype(ctx, 4, k_f32));
  IVM_TRY(check_dtype(ctx, 6, k_f32));
  IVM_TRY(check_scalar(ctx, 1));
  IVM_TRY(check_scalar(ctx, 2));
  IVM_TRY(check_per_channel(ctx, 3, 4));
  IVM_TRY(check_per_channel(ctx, 3, 5));
  IVM_TRY(check_scalar(ctx, 6));
  IVM_TRY(check_scalar(ctx, 7));
  int has_b = iu_present(ctx, 8);
  if (has_b) IVM_TRY(check_dtype(ctx, 8, k_i32));
  return conv_shape(ctx, 0, 3, has_b, 8, ctx->in[7].dtype);
}

/* ---- losses ------------------------------------------------------------------------------ */
int isa_quant_reduction(const isa_attr *attrs, int slot) {
  const char *s = attrs && attrs[slot].type == ISA_ATTR_STRING && attrs[slot].v.s
                      ? attrs[slot].v.s
                      : "mean";
  if (!strcmp(s, "none")) return 0;
  if (!strcmp(s, "sum")) return 1;
  if (!strcmp(s, "mean")) return 2;
  return -1;
}

ivm_status isa_infer_quant_loss(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1, 2));
  IVM_TRY(check_dtype(ctx, 0, k_loss_float));
  IVM_TRY(check_dtype(ctx, 1, k_index));
  /* both ops share the schema, so either's slot works */
  int red = isa_quant_reduction(ctx->attrs, ISA_A_NegativeLogLikelihoodLoss_reduction);
  if (red < 0) return BAD("reduction must be none, sum or mean, got '%s'",
                          ctx->attrs[ISA_A_NegativeLogLikelihoodLoss_reduction].v.s);
  const isa_type *x = &ctx->in[0], *t = &ctx->in[1];
  if (x->rank >= 0 && x->rank < 2) return BAD("input 0: rank must be >= 2, got %d", x->rank);
  if (x->rank >= 0 && t->rank >= 0 && t->rank != x->rank - 1)
    return BAD("input 1: rank must be %d, got %d", x->rank - 1, t->rank);
  isa_type ts;
  memset(&ts, 0, sizeof ts);
  ts.rank = -1;
  if (x->rank >= 0) {
    ts.rank = (int8_t)(x->rank - 1);
    ts.dims[0] = x->dims[0];
    for (int k = 2; k < x->rank; k++) ts.dims[k - 1] = x->dims[k];
  }
  if (t->rank >= 0) {
    if (ts.rank < 0) ts = *t;
    else
      for (int k = 0; k < t->rank; k++) {
        int64_t a = ts.dims[k], b = t->dims[k];
        if (a >= 0 && b >= 0 && a != b)
          return BAD("input 1: dim %d is %lld, expected %lld", k, (long long)b, (long long)a);
        ts.dims[k] = a >= 0 ? a : b >= 0 ? b : a == b ? a : ISA_DIM_ANY;
      }
  }
  if (iu_present(ctx, 2)) {
    IVM_TRY(same_dtype(ctx, 0, 2));
    const isa_type *w = &ctx->in[2];
    if (w->rank >= 0 && w->rank != 1) return BAD("input 2: must be 1-D, got rank %d", w->rank);
    if (w->rank == 1 && x->rank >= 2 && w->dims[0] >= 0 && x->dims[1] >= 0 &&
        w->dims[0] != x->dims[1])
      return BAD("input 2: expected %lld weights, got %lld", (long long)x->dims[1],
                 (long long)w->dims[0]);
  }
  if (red == 0) iu_set_like(&ctx->out[0], x->dtype, &ts);
  else set_scalar(&ctx->out[0], x->dtype);
  if (ctx->n_out > 1) iu_set_like(&ctx->out[1], x->dtype, x);
  return NULL;
}
