/* Shape and type inference for the nn family (isa/ops_nn.def): ConvTranspose, Resize,
 * DepthToSpace / SpaceToDepth, MaxUnpool, LRN, InstanceNormalization,
 * MeanVarianceNormalization, GlobalMaxPool / GlobalLpPool, LpNormalization, LpPool,
 * RoiAlign, GridSample. ONNX semantics; older opsets are rewritten by
 * compiler/onnx_ops_nn.c. */
#include <math.h>
#include <string.h>

#include "isa/infer_linalg.h"
#include "isa/infer_nn.h"
#include "isa/infer_util.h"

/* Attribute values are bounded so that window arithmetic cannot overflow int64. */
#define NN_MAX ((int64_t)1 << 31)
/* Largest output dim Resize / MaxUnpool may ask for. */
#define NN_MAX_DIM ((int64_t)1 << 40)

static ivm_status check_arity(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in,
                              uint32_t n_out) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expected %u..%u inputs, got %u", min_in, max_in,
                     ctx->n_in);
  if (ctx->n_out != n_out)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "expected %u outputs, got %u", n_out, ctx->n_out);
  for (uint32_t i = 0; i < min_in; i++)
    if (!iu_present(ctx, i)) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u is required", i);
  for (uint32_t i = 0; i < ctx->n_in; i++)
    if (iu_present(ctx, i) && (ctx->in[i].rank < -1 || ctx->in[i].rank > ISA_MAX_RANK))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: bad rank %d", i, ctx->in[i].rank);
  return NULL;
}

static const int k_float[] = {IVM_DT_F32, IVM_DT_F64, 0};
static const int k_resize[] = {IVM_DT_F32, IVM_DT_F64, IVM_DT_U8, IVM_DT_I8, IVM_DT_I32,
                               IVM_DT_I64, 0};
static const int k_maxpool[] = {IVM_DT_F32, IVM_DT_F64, IVM_DT_U8, IVM_DT_I8, 0};

static ivm_status check_dtype(const isa_infer_ctx *ctx, uint32_t i, const int *allowed) {
  int dt = ctx->in[i].dtype;
  for (const int *a = allowed; *a; a++)
    if (*a == dt) return NULL;
  return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: unsupported dtype %s", i,
                   ivm_dtype_name((ivm_dtype)dt));
}

static ivm_status same_dtype(const isa_infer_ctx *ctx, uint32_t i, uint32_t j) {
  if (ctx->in[i].dtype != ctx->in[j].dtype)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: expected %s, got %s", j,
                     ivm_dtype_name((ivm_dtype)ctx->in[i].dtype),
                     ivm_dtype_name((ivm_dtype)ctx->in[j].dtype));
  return NULL;
}

static ivm_status need_dtype(const isa_infer_ctx *ctx, uint32_t i, int dt) {
  if (ctx->in[i].dtype != dt)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: expected %s, got %s", i,
                     ivm_dtype_name((ivm_dtype)dt), ivm_dtype_name((ivm_dtype)ctx->in[i].dtype));
  return NULL;
}

static const char *str_attr(const isa_attr *a, const char *def) {
  return (a && a->type == ISA_ATTR_STRING && a->v.s) ? a->v.s : def;
}

static int str_code(const char *s, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

static ivm_status bad_string(const char *attr, const char *v) {
  return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: unknown value '%s'", attr, v);
}

/* a * b would exceed NN_MAX_DIM (a, b >= 0) */
static int too_big(int64_t a, int64_t b) { return a > 0 && b > NN_MAX_DIM / a; }

static int64_t floor_div2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

/* Element i of a known i64 / f32 / f64 vector as double. */
static double num_at(int dt, const void *p, int64_t i) {
  switch (dt) {
    case IVM_DT_F32: return ((const float *)p)[i];
    case IVM_DT_F64: return ((const double *)p)[i];
    case IVM_DT_I64: return (double)((const int64_t *)p)[i];
    default: return 0;
  }
}

/* ==== ConvTranspose ================================================================== */
ivm_status isa_nn_convt_resolve(int n, const int64_t *in, const int64_t *kernel,
                                const isa_attr *at, isa_nn_convt *g) {
  memset(g, 0, sizeof *g);
  if (n < 1 || n > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ConvTranspose: spatial rank %d not supported", n);
  g->n = n;
  static const char *const pad_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "", NULL};
  const char *aps = str_attr(&at[ISA_A_ConvTranspose_auto_pad], "NOTSET");
  int mode = str_code(aps, pad_names);
  if (mode < 0) return bad_string("auto_pad", aps);
  if (mode == 4) mode = 0;
  int64_t opad[ISA_MAX_RANK], p[2 * ISA_MAX_RANK], oshape[ISA_MAX_RANK];
  IVM_TRY(iu_ints_attr(&at[ISA_A_ConvTranspose_strides], "strides", n, 1, 1, NN_MAX, g->stride));
  IVM_TRY(iu_ints_attr(&at[ISA_A_ConvTranspose_dilations], "dilations", n, 1, 1, NN_MAX,
                       g->dilation));
  IVM_TRY(iu_ints_attr(&at[ISA_A_ConvTranspose_pads], "pads", 2 * n, 0, 0, NN_MAX, p));
  IVM_TRY(iu_ints_attr(&at[ISA_A_ConvTranspose_output_padding], "output_padding", n, 0, 0,
                       NN_MAX, opad));
  const isa_attr *os = &at[ISA_A_ConvTranspose_output_shape];
  int has_os = os->type == ISA_ATTR_INTS && os->count > 0;
  if (has_os) {
    /* output_shape lists the spatial dims (or, in some exporters, the whole shape) */
    int skip = (int)os->count == n + 2 ? 2 : 0;
    if ((int)os->count != n + skip)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape: expected %d values, got %u", n,
                       os->count);
    for (int i = 0; i < n; i++) {
      oshape[i] = os->v.ints[skip + i];
      if (oshape[i] < 0 || oshape[i] > NN_MAX)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape[%d] out of range", i);
    }
  }
  for (int i = 0; i < n; i++) {
    if (kernel[i] == 0 || kernel[i] > NN_MAX)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel size %lld out of range",
                       (long long)kernel[i]);
    if (opad[i] >= g->stride[i] && opad[i] >= g->dilation[i])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "output_padding[%d] = %lld must be smaller than stride or dilation", i,
                       (long long)opad[i]);
    g->in[i] = in[i] < 0 ? ISA_DIM_ANY : in[i];
    g->kernel[i] = kernel[i] < 0 ? ISA_DIM_ANY : kernel[i];
    g->out[i] = ISA_DIM_ANY;
    g->pad_begin[i] = mode == 0 && !has_os ? p[i] : 0;
    if (mode == 0 && !has_os && g->in[i] < 0) continue;
    if (g->kernel[i] < 0 || g->in[i] < 0) {
      if (has_os) g->out[i] = oshape[i];
      continue;
    }
    if (too_big(g->stride[i], g->in[i]))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ConvTranspose: output dim %d too large", i);
    int64_t dk = (g->kernel[i] - 1) * g->dilation[i] + 1;
    int64_t full = g->stride[i] * (g->in[i] - 1) + opad[i] + dk;
    if (g->in[i] == 0) full = 0;
    if (has_os || mode == 1 || mode == 2) {
      int64_t out = has_os ? oshape[i] : g->in[i] * g->stride[i];
      int64_t total = full - out, half = floor_div2(total);
      if (mode == 1) g->pad_begin[i] = half;          /* SAME_UPPER: extra at the end */
      else g->pad_begin[i] = total - half;            /* extra at the beginning */
      g->out[i] = out;
    } else if (mode == 3) {
      g->out[i] = full;
    } else {
      int64_t out = full - p[i] - p[n + i];
      if (out < 0)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "ConvTranspose: pads exceed the output (%lld)",
                         (long long)full);
      g->out[i] = out;
    }
  }
  return NULL;
}

ivm_status isa_infer_nn_convtranspose(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  IVM_TRY(same_dtype(ctx, 0, 1));
  int has_b = iu_present(ctx, 2);
  if (has_b) IVM_TRY(same_dtype(ctx, 0, 2));
  const isa_attr *at = ctx->attrs;
  const isa_type *x = &ctx->in[0], *w = &ctx->in[1];
  int64_t group = at[ISA_A_ConvTranspose_group].v.i;
  if (group < 1 || group > NN_MAX)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "group must be >= 1, got %lld", (long long)group);
  const isa_attr *ks = &at[ISA_A_ConvTranspose_kernel_shape];
  int rank = x->rank >= 0 ? x->rank : w->rank;
  if (rank < 0 && ks->count > 0) rank = (int)ks->count + 2;
  if (x->rank >= 0 && w->rank >= 0 && x->rank != w->rank)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X rank %d differs from W rank %d", x->rank,
                     w->rank);
  if (rank >= 0 && (rank < 3 || rank > ISA_MAX_RANK))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "inputs need rank >= 3, got %d", rank);
  isa_type *o = &ctx->out[0];
  if (rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  int n = rank - 2;
  int64_t xd[ISA_MAX_RANK], wd[ISA_MAX_RANK], kernel[ISA_MAX_RANK];
  for (int i = 0; i < rank; i++) {
    xd[i] = x->rank >= 0 ? x->dims[i] : ISA_DIM_ANY;
    wd[i] = w->rank >= 0 ? w->dims[i] : ISA_DIM_ANY;
  }
  if (ks->count > 0) {
    if ((int)ks->count != n)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape: expected %d values, got %u", n,
                       ks->count);
    for (int i = 0; i < n; i++) {
      int64_t k = ks->v.ints[i];
      if (k < 1 || k > NN_MAX)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape[%d] out of range", i);
      if (wd[2 + i] >= 0 && wd[2 + i] != k)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape[%d] = %lld differs from W (%lld)",
                         i, (long long)k, (long long)wd[2 + i]);
      kernel[i] = k;
    }
  } else {
    for (int i = 0; i < n; i++) kernel[i] = wd[2 + i];
  }
  if (xd[1] >= 0 && wd[0] >= 0 && xd[1] != wd[0])
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X has %lld channels, W expects %lld",
                     (long long)xd[1], (long long)wd[0]);
  if (xd[1] >= 0 && xd[1] % group)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "channels %lld not divisible by group %lld",
                     (long long)xd[1], (long long)group);
  int64_t m = wd[1] >= 0 ? wd[1] * group : ISA_DIM_ANY;
  if (wd[1] > NN_MAX) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "W dim 1 too large");
  if (has_b) {
    const isa_type *b = &ctx->in[2];
    if (b->rank >= 0 && b->rank != 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "B must be 1-D, got rank %d", b->rank);
    if (b->rank == 1 && b->dims[0] >= 0) {
      if (m >= 0 && b->dims[0] != m)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "B has %lld values, expected %lld",
                         (long long)b->dims[0], (long long)m);
      m = b->dims[0];
    }
  }
  isa_nn_convt g;
  IVM_TRY(isa_nn_convt_resolve(n, xd + 2, kernel, at, &g));
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = (int8_t)rank;
  o->dims[0] = xd[0];
  o->dims[1] = m;
  for (int i = 0; i < n; i++) o->dims[2 + i] = g.out[i];
  return NULL;
}

/* ==== Resize ========================================================================= */
static const char *const k_resize_modes[] = {"nearest", "linear", "cubic", NULL};
static const char *const k_ctm_names[] = {"half_pixel", "half_pixel_symmetric",
                                          "pytorch_half_pixel", "align_corners", "asymmetric",
                                          "tf_half_pixel_for_nn", "tf_crop_and_resize", NULL};
static const char *const k_nearest_names[] = {"round_prefer_floor", "round_prefer_ceil", "floor",
                                              "ceil", "simple", NULL};

ivm_status isa_nn_resize_resolve(const isa_attr *at, int rank, const int64_t *x_dims,
                                 uint32_t n_in, const isa_type *in, const void *const *data,
                                 isa_nn_resize *r) {
  memset(r, 0, sizeof *r);
  r->rank = rank;
  const char *s = str_attr(&at[ISA_A_Resize_mode], "nearest");
  if ((r->mode = str_code(s, k_resize_modes)) < 0) return bad_string("mode", s);
  s = str_attr(&at[ISA_A_Resize_coordinate_transformation_mode], "half_pixel");
  if ((r->ctm = str_code(s, k_ctm_names)) < 0)
    return bad_string("coordinate_transformation_mode", s);
  s = str_attr(&at[ISA_A_Resize_nearest_mode], "round_prefer_floor");
  if ((r->nearest = str_code(s, k_nearest_names)) < 0) return bad_string("nearest_mode", s);
  static const char *const policies[] = {"stretch", "not_larger", "not_smaller", NULL};
  s = str_attr(&at[ISA_A_Resize_keep_aspect_ratio_policy], "stretch");
  int policy = str_code(s, policies);
  if (policy < 0) return bad_string("keep_aspect_ratio_policy", s);
  int64_t ex = at[ISA_A_Resize_exclude_outside].v.i;
  if (ex != 0 && ex != 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "exclude_outside must be 0 or 1");
  r->exclude_outside = (int)ex;
  r->cubic_a = at[ISA_A_Resize_cubic_coeff_a].v.f;
  r->extrapolation = at[ISA_A_Resize_extrapolation_value].v.f;
  if (!isfinite(r->cubic_a)) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "cubic_coeff_a not finite");
  /* axes: which dims roi / scales / sizes describe (all by default) */
  int axes[ISA_MAX_RANK], na = rank;
  const isa_attr *ax = &at[ISA_A_Resize_axes];
  if (ax->type == ISA_ATTR_INTS && ax->count > 0) {
    if ((int)ax->count > rank)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axes: %u values for rank %d", ax->count, rank);
    na = (int)ax->count;
    int seen[ISA_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
      int64_t a = ax->v.ints[i];
      if (a < -rank || a >= rank)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axes[%d] = %lld out of range", i, (long long)a);
      if (a < 0) a += rank;
      if (seen[a]++) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axes: %lld repeated", (long long)a);
      axes[i] = (int)a;
    }
  } else {
    for (int i = 0; i < rank; i++) axes[i] = i;
  }
  for (int d = 0; d < rank; d++) {
    r->out[d] = x_dims[d] < 0 ? ISA_DIM_ANY : x_dims[d];
    r->scale[d] = 1.0;
    r->out_len[d] = (double)r->out[d];
    r->roi_lo[d] = 0.0;
    r->roi_hi[d] = 1.0;
  }
  const isa_type *roi_t = n_in > 1 && in[1].dtype != IVM_DT_NONE ? &in[1] : NULL;
  const isa_type *sc_t = n_in > 2 && in[2].dtype != IVM_DT_NONE ? &in[2] : NULL;
  const isa_type *sz_t = n_in > 3 && in[3].dtype != IVM_DT_NONE ? &in[3] : NULL;
  if (roi_t && roi_t->dtype != IVM_DT_F32 && roi_t->dtype != IVM_DT_F64)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "roi: expected f32 or f64");
  if (sc_t && sc_t->dtype != IVM_DT_F32)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "scales: expected f32");
  if (sz_t && sz_t->dtype != IVM_DT_I64)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "sizes: expected i64");
  if ((roi_t && roi_t->rank > 1) || (sc_t && sc_t->rank > 1) || (sz_t && sz_t->rank > 1))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "roi / scales / sizes must be 1-D");
  int64_t n_sc = sc_t ? iu_known_numel(sc_t) : 0, n_sz = sz_t ? iu_known_numel(sz_t) : 0;
  int64_t n_roi = roi_t ? iu_known_numel(roi_t) : 0;
  /* an empty scales tensor means "absent" (opset 11 requires the input) */
  int use_sizes;
  if (n_sc > 0 && n_sz > 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "only one of scales and sizes may be given");
  if (n_sc > 0) use_sizes = 0;
  else if (n_sz > 0) use_sizes = 1;
  else if (n_sc == 0 && n_sz == 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "one of scales and sizes is required");
  else { /* element counts unknown: outputs unknown */
    for (int i = 0; i < na; i++) r->out[axes[i]] = ISA_DIM_ANY;
    return NULL;
  }
  int64_t cnt = use_sizes ? n_sz : n_sc;
  if (cnt != na)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: expected %d values, got %lld",
                     use_sizes ? "sizes" : "scales", na, (long long)cnt);
  if (r->ctm == ISA_NN_CTM_TF_CROP_AND_RESIZE) {
    if (!roi_t) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "tf_crop_and_resize needs roi");
    if (n_roi >= 0 && n_roi != 2 * na)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "roi: expected %d values, got %lld", 2 * na,
                       (long long)n_roi);
    if (data[1] && n_roi == 2 * na)
      for (int i = 0; i < na; i++) {
        r->roi_lo[axes[i]] = num_at(roi_t->dtype, data[1], i);
        r->roi_hi[axes[i]] = num_at(roi_t->dtype, data[1], na + i);
        if (!isfinite(r->roi_lo[axes[i]]) || !isfinite(r->roi_hi[axes[i]]))
          return ivm_error(IVM_ERR_INVALID_ARGUMENT, "roi not finite");
      }
  }
  const void *vals = data[use_sizes ? 3 : 2];
  if (!vals || (r->ctm == ISA_NN_CTM_TF_CROP_AND_RESIZE && !data[1])) {
    for (int i = 0; i < na; i++) r->out[axes[i]] = ISA_DIM_ANY;
    return NULL;
  }
  if (!use_sizes) {
    const float *sc = vals;
    for (int i = 0; i < na; i++) {
      int d = axes[i];
      double v = sc[i];
      if (!(v > 0) || !isfinite(v))
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "scales[%d] must be > 0", i);
      r->scale[d] = v;
      if (x_dims[d] < 0) continue;
      double span = r->ctm == ISA_NN_CTM_TF_CROP_AND_RESIZE ? r->roi_hi[d] - r->roi_lo[d] : 1.0;
      double o = floor((double)x_dims[d] * span * v);
      if (!(o >= 0)) o = 0;
      if (o > (double)NN_MAX_DIM)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output dim %d too large", d);
      r->out[d] = (int64_t)o;
      r->out_len[d] = (double)x_dims[d] * v; /* ONNX: length_resized may be fractional */
    }
    return NULL;
  }
  const int64_t *sz = vals;
  for (int i = 0; i < na; i++)
    if (sz[i] < 0 || sz[i] > NN_MAX_DIM)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "sizes[%d] = %lld out of range", i,
                       (long long)sz[i]);
  if (policy != 0) {
    double best = policy == 1 ? INFINITY : -INFINITY;
    for (int i = 0; i < na; i++) {
      int d = axes[i];
      if (x_dims[d] < 0) {
        for (int j = 0; j < na; j++) r->out[axes[j]] = ISA_DIM_ANY;
        return NULL;
      }
      if (x_dims[d] == 0) continue;
      double s = (double)sz[i] / (double)x_dims[d];
      best = policy == 1 ? fmin(best, s) : fmax(best, s);
    }
    if (!isfinite(best)) best = 1.0;
    for (int i = 0; i < na; i++) {
      int d = axes[i];
      double o = nearbyint(best * (double)x_dims[d]); /* half to even, like numpy */
      if (o > (double)NN_MAX_DIM)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output dim %d too large", d);
      r->out[d] = (int64_t)o;
      r->out_len[d] = o;
      r->scale[d] = best;
    }
    return NULL;
  }
  for (int i = 0; i < na; i++) {
    int d = axes[i];
    r->out[d] = sz[i];
    r->out_len[d] = (double)sz[i];
    r->scale[d] = x_dims[d] > 0 ? (double)sz[i] / (double)x_dims[d] : 1.0;
  }
  return NULL;
}

ivm_status isa_infer_nn_resize(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 4, 1));
  IVM_TRY(check_dtype(ctx, 0, k_resize));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  if (x->rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  if (x->rank < 1) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "Resize: X must have rank >= 1");
  isa_nn_resize r;
  IVM_TRY(isa_nn_resize_resolve(ctx->attrs, x->rank, x->dims, ctx->n_in, ctx->in, ctx->in_data,
                                &r));
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = x->rank;
  for (int d = 0; d < x->rank; d++) o->dims[d] = r.out[d];
  return NULL;
}

/* ==== DepthToSpace / SpaceToDepth ===================================================== */
static ivm_status blocksize_of(const isa_infer_ctx *ctx, int64_t *b) {
  *b = ctx->attrs[0].v.i; /* blocksize is slot 0 of both schemas */
  if (*b < 1 || *b > NN_MAX)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "blocksize must be >= 1, got %lld", (long long)*b);
  return NULL;
}

ivm_status isa_infer_nn_depth_to_space(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  int64_t b;
  IVM_TRY(blocksize_of(ctx, &b));
  static const char *const modes[] = {"DCR", "CRD", NULL};
  const char *m = str_attr(&ctx->attrs[ISA_A_DepthToSpace_mode], "DCR");
  if (str_code(m, modes) < 0) return bad_string("mode", m);
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  if (!ivm_dtype_size((ivm_dtype)x->dtype))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "DepthToSpace: unsupported dtype");
  if (x->rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  if (x->rank != 4) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "DepthToSpace: X must be 4-D");
  if (x->dims[1] >= 0 && x->dims[1] % (b * b))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "channels %lld not divisible by blocksize^2",
                     (long long)x->dims[1]);
  if (too_big(x->dims[2], b) || too_big(x->dims[3], b))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "DepthToSpace: output too large");
  *o = *x;
  o->dims[1] = x->dims[1] >= 0 ? x->dims[1] / (b * b) : ISA_DIM_ANY;
  o->dims[2] = x->dims[2] >= 0 ? x->dims[2] * b : ISA_DIM_ANY;
  o->dims[3] = x->dims[3] >= 0 ? x->dims[3] * b : ISA_DIM_ANY;
  return NULL;
}

ivm_status isa_infer_nn_space_to_depth(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  int64_t b;
  IVM_TRY(blocksize_of(ctx, &b));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  if (!ivm_dtype_size((ivm_dtype)x->dtype))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "SpaceToDepth: unsupported dtype");
  if (x->rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  if (x->rank != 4) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "SpaceToDepth: X must be 4-D");
  for (int d = 2; d < 4; d++)
    if (x->dims[d] >= 0 && x->dims[d] % b)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "dim %d (%lld) not divisible by blocksize", d,
                       (long long)x->dims[d]);
  if (too_big(x->dims[1], b * b)) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "too many channels");
  *o = *x;
  o->dims[1] = x->dims[1] >= 0 ? x->dims[1] * b * b : ISA_DIM_ANY;
  o->dims[2] = x->dims[2] >= 0 ? x->dims[2] / b : ISA_DIM_ANY;
  o->dims[3] = x->dims[3] >= 0 ? x->dims[3] / b : ISA_DIM_ANY;
  return NULL;
}

/* ==== MaxUnpool ====================================================================== */
ivm_status isa_infer_nn_maxunpool(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 3, 1));
  IVM_TRY(check_dtype(ctx, 0, k_maxpool));
  IVM_TRY(need_dtype(ctx, 1, IVM_DT_I64));
  const isa_attr *at = ctx->attrs;
  const isa_attr *ks = &at[ISA_A_MaxUnpool_kernel_shape];
  if (ks->count < 1 || ks->count > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape: %u values", ks->count);
  int n = (int)ks->count;
  int64_t k[ISA_MAX_RANK], s[ISA_MAX_RANK], p[2 * ISA_MAX_RANK];
  IVM_TRY(iu_ints_attr(ks, "kernel_shape", n, 1, 1, NN_MAX, k));
  IVM_TRY(iu_ints_attr(&at[ISA_A_MaxUnpool_strides], "strides", n, 1, 1, NN_MAX, s));
  IVM_TRY(iu_ints_attr(&at[ISA_A_MaxUnpool_pads], "pads", 2 * n, 0, 0, NN_MAX, p));
  const isa_type *x = &ctx->in[0], *ind = &ctx->in[1];
  if (x->rank >= 0 && x->rank != n + 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X rank %d does not match kernel_shape (%d)",
                     x->rank, n);
  if (x->rank >= 0 && ind->rank >= 0) {
    if (ind->rank != x->rank)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "I must have X's shape");
    for (int d = 0; d < x->rank; d++)
      if (x->dims[d] >= 0 && ind->dims[d] >= 0 && x->dims[d] != ind->dims[d])
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "I must have X's shape");
  }
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = (int8_t)(n + 2);
  o->dims[0] = x->rank >= 0 ? x->dims[0] : ISA_DIM_ANY;
  o->dims[1] = x->rank >= 0 ? x->dims[1] : ISA_DIM_ANY;
  if (iu_present(ctx, 2)) {
    const isa_type *st = &ctx->in[2];
    IVM_TRY(need_dtype(ctx, 2, IVM_DT_I64));
    if (st->rank >= 0 && st->rank != 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape must be 1-D");
    if (st->rank == 1 && st->dims[0] >= 0 && st->dims[0] != n + 2)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape: expected %d values", n + 2);
    const int64_t *v = ctx->in_data[2];
    for (int d = 0; d < n + 2; d++) {
      if (!v) {
        if (d >= 2) o->dims[d] = ISA_DIM_ANY;
        continue;
      }
      if (v[d] < 0 || v[d] > NN_MAX_DIM)
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape[%d] out of range", d);
      if (d < 2 && o->dims[d] >= 0 && o->dims[d] != v[d])
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_shape[%d] differs from X", d);
      o->dims[d] = v[d];
    }
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    int64_t xi = x->rank >= 0 ? x->dims[2 + i] : ISA_DIM_ANY;
    if (xi < 0) {
      o->dims[2 + i] = ISA_DIM_ANY;
      continue;
    }
    if (too_big(xi, s[i])) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output dim too large");
    int64_t v = (xi - 1) * s[i] + k[i] - p[i] - p[n + i];
    if (xi == 0) v = 0;
    if (v < 0) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "pads exceed the output");
    o->dims[2 + i] = v;
  }
  return NULL;
}

/* ==== LRN ============================================================================= */
ivm_status isa_infer_nn_lrn(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  const isa_type *x = &ctx->in[0];
  int64_t size = ctx->attrs[ISA_A_LRN_size].v.i;
  if (size < 1 || size > NN_MAX)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "size must be >= 1, got %lld", (long long)size);
  if (x->rank >= 0 && x->rank < 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "LRN: X needs rank >= 2, got %d", x->rank);
  ctx->out[0] = *x;
  return NULL;
}

/* ==== InstanceNormalization =========================================================== */
ivm_status isa_infer_nn_instancenorm(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 3, 3, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  IVM_TRY(same_dtype(ctx, 0, 1));
  IVM_TRY(same_dtype(ctx, 0, 2));
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank < 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X needs rank >= 2, got %d", x->rank);
  for (uint32_t i = 1; i < 3; i++) {
    const isa_type *t = &ctx->in[i];
    if (t->rank >= 0 && t->rank != 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u must be 1-D", i);
    if (t->rank == 1 && x->rank >= 0 && t->dims[0] >= 0 && x->dims[1] >= 0 &&
        t->dims[0] != x->dims[1])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input %u: %lld values for %lld channels", i,
                       (long long)t->dims[0], (long long)x->dims[1]);
  }
  if (!isfinite(ctx->attrs[ISA_A_InstanceNormalization_epsilon].v.f))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "epsilon not finite");
  ctx->out[0] = *x;
  return NULL;
}

/* ==== MeanVarianceNormalization ======================================================= */
ivm_status isa_infer_nn_mvn(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  const isa_type *x = &ctx->in[0];
  const isa_attr *ax = &ctx->attrs[ISA_A_MeanVarianceNormalization_axes];
  if (x->rank >= 0) {
    int seen[ISA_MAX_RANK] = {0};
    if (ax->type == ISA_ATTR_INTS && ax->count > 0) {
      for (uint32_t i = 0; i < ax->count; i++) {
        int64_t a = ax->v.ints[i];
        if (a < -x->rank || a >= x->rank)
          return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axes[%u] = %lld out of range", i,
                           (long long)a);
        if (a < 0) a += x->rank;
        if (seen[a]++)
          return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axes: %lld repeated", (long long)a);
      }
    } else if (x->rank < 4) {
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "default axes (0, 2, 3) need rank >= 4");
    }
  }
  ctx->out[0] = *x;
  return NULL;
}

/* ==== GlobalMaxPool / GlobalLpPool ==================================================== */
ivm_status isa_infer_nn_global_pool(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  const isa_type *x = &ctx->in[0];
  isa_type *o = &ctx->out[0];
  if (x->rank < 0) {
    iu_set_unknown_rank(o, x->dtype);
    return NULL;
  }
  if (x->rank < 3)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X must have rank >= 3, got %d", x->rank);
  *o = *x;
  for (int i = 2; i < x->rank; i++) o->dims[i] = 1;
  return NULL;
}

/* ==== LpNormalization ================================================================= */
ivm_status isa_infer_nn_lpnorm(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  const isa_type *x = &ctx->in[0];
  int64_t p = ctx->attrs[ISA_A_LpNormalization_p].v.i;
  int64_t axis = ctx->attrs[ISA_A_LpNormalization_axis].v.i;
  if (p != 1 && p != 2) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "p must be 1 or 2");
  if (x->rank >= 0) {
    int r = x->rank < 1 ? 1 : x->rank;
    if (axis < -r || axis >= r)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "axis %lld out of range", (long long)axis);
  }
  ctx->out[0] = *x;
  return NULL;
}

/* ==== LpPool ========================================================================== */
ivm_status isa_infer_nn_lppool(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 1, 1, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  const isa_attr *at = ctx->attrs;
  const isa_attr *ks = &at[ISA_A_LpPool_kernel_shape];
  if (ks->count < 1 || ks->count > ISA_MAX_RANK - 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape: %u values", ks->count);
  int64_t p = at[ISA_A_LpPool_p].v.i;
  if (p < 1 || p > 64) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "p must be in 1..64");
  int n = (int)ks->count;
  const isa_type *x = &ctx->in[0];
  if (x->rank >= 0 && x->rank != n + 2)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input rank %d does not match kernel_shape (%d)",
                     x->rank, n);
  int64_t in[ISA_MAX_RANK];
  for (int i = 0; i < n; i++) {
    in[i] = x->rank >= 0 ? x->dims[2 + i] : ISA_DIM_ANY;
    if (ks->v.ints[i] < 1)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "kernel_shape[%d] must be >= 1", i);
  }
  isa_window w;
  IVM_TRY(isa_window_resolve(n, in, ks->v.ints, &at[ISA_A_LpPool_auto_pad], &at[ISA_A_LpPool_pads],
                             &at[ISA_A_LpPool_strides], &at[ISA_A_LpPool_dilations],
                             at[ISA_A_LpPool_ceil_mode].v.i, 0, &w));
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = (int8_t)(n + 2);
  o->dims[0] = x->rank >= 0 ? x->dims[0] : ISA_DIM_ANY;
  o->dims[1] = x->rank >= 0 ? x->dims[1] : ISA_DIM_ANY;
  for (int i = 0; i < n; i++) o->dims[2 + i] = w.out[i];
  return NULL;
}

/* ==== RoiAlign ======================================================================== */
ivm_status isa_infer_nn_roialign(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 3, 3, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  IVM_TRY(same_dtype(ctx, 0, 1));
  IVM_TRY(need_dtype(ctx, 2, IVM_DT_I64));
  const isa_attr *at = ctx->attrs;
  static const char *const ctms[] = {"half_pixel", "output_half_pixel", NULL};
  static const char *const modes[] = {"avg", "max", NULL};
  const char *s = str_attr(&at[ISA_A_RoiAlign_coordinate_transformation_mode], "half_pixel");
  if (str_code(s, ctms) < 0) return bad_string("coordinate_transformation_mode", s);
  s = str_attr(&at[ISA_A_RoiAlign_mode], "avg");
  if (str_code(s, modes) < 0) return bad_string("mode", s);
  int64_t oh = at[ISA_A_RoiAlign_output_height].v.i, ow = at[ISA_A_RoiAlign_output_width].v.i;
  int64_t sr = at[ISA_A_RoiAlign_sampling_ratio].v.i;
  if (oh < 1 || ow < 1 || oh > NN_MAX || ow > NN_MAX)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output_height / output_width must be >= 1");
  if (sr < 0 || sr > 1 << 16)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "sampling_ratio out of range");
  if (!isfinite(at[ISA_A_RoiAlign_spatial_scale].v.f))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "spatial_scale not finite");
  const isa_type *x = &ctx->in[0], *rois = &ctx->in[1], *bi = &ctx->in[2];
  if (x->rank >= 0 && x->rank != 4) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X must be 4-D");
  if (rois->rank >= 0 && (rois->rank != 2 || (rois->dims[1] >= 0 && rois->dims[1] != 4)))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "rois must be (num_rois, 4)");
  if (bi->rank >= 0 && bi->rank != 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "batch_indices must be 1-D");
  int64_t nr = rois->rank == 2 ? rois->dims[0] : ISA_DIM_ANY;
  if (bi->rank == 1 && bi->dims[0] >= 0) {
    if (nr >= 0 && nr != bi->dims[0])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "rois and batch_indices lengths differ");
    nr = bi->dims[0];
  }
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = 4;
  o->dims[0] = nr;
  o->dims[1] = x->rank == 4 ? x->dims[1] : ISA_DIM_ANY;
  o->dims[2] = oh;
  o->dims[3] = ow;
  return NULL;
}

/* ==== GridSample ====================================================================== */
int isa_nn_gridsample_mode(const isa_attr *a) {
  static const char *const names[] = {"bilinear", "nearest", "bicubic", "linear", "cubic", NULL};
  int c = str_code(str_attr(a, "bilinear"), names);
  return c == 3 ? 0 : c == 4 ? 2 : c;
}

int isa_nn_gridsample_padding(const isa_attr *a) {
  static const char *const names[] = {"zeros", "border", "reflection", NULL};
  return str_code(str_attr(a, "zeros"), names);
}

ivm_status isa_infer_nn_gridsample(isa_infer_ctx *ctx) {
  IVM_TRY(check_arity(ctx, 2, 2, 1));
  IVM_TRY(check_dtype(ctx, 0, k_float));
  IVM_TRY(same_dtype(ctx, 0, 1));
  const isa_attr *at = ctx->attrs;
  if (isa_nn_gridsample_mode(&at[ISA_A_GridSample_mode]) < 0)
    return bad_string("mode", str_attr(&at[ISA_A_GridSample_mode], ""));
  if (isa_nn_gridsample_padding(&at[ISA_A_GridSample_padding_mode]) < 0)
    return bad_string("padding_mode", str_attr(&at[ISA_A_GridSample_padding_mode], ""));
  int64_t ac = at[ISA_A_GridSample_align_corners].v.i;
  if (ac != 0 && ac != 1) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "align_corners must be 0 or 1");
  const isa_type *x = &ctx->in[0], *g = &ctx->in[1];
  if (x->rank >= 0 && x->rank != 4) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X must be 4-D");
  if (g->rank >= 0 && (g->rank != 4 || (g->dims[3] >= 0 && g->dims[3] != 2)))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "grid must be (N, H_out, W_out, 2)");
  int64_t nb = x->rank == 4 ? x->dims[0] : ISA_DIM_ANY;
  if (g->rank == 4 && g->dims[0] >= 0) {
    if (nb >= 0 && nb != g->dims[0])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "X and grid batch sizes differ");
    nb = g->dims[0];
  }
  isa_type *o = &ctx->out[0];
  memset(o, 0, sizeof *o);
  o->dtype = x->dtype;
  o->rank = 4;
  o->dims[0] = nb;
  o->dims[1] = x->rank == 4 ? x->dims[1] : ISA_DIM_ANY;
  o->dims[2] = g->rank == 4 ? g->dims[1] : ISA_DIM_ANY;
  o->dims[3] = g->rank == 4 ? g->dims[2] : ISA_DIM_ANY;
  return NULL;
}
