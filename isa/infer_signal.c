/* Shape and type inference for the signal ops (DFT, STFT, windows, MelWeightMatrix).
 * Every input is untrusted: counts, dtypes, ranks, attribute and input values are checked
 * here; the kernels (runtime/kernels/signal.c) rely on what this file accepted. Output
 * sizes that depend on values not known yet (dft_length, frame_step, a window's size...)
 * are ISA_DIM_ANY; the runtime calls again with the values. */
#include <stdint.h>
#include <string.h>

#include "isa/infer_util.h"
#include "isa/op.h"

#define ERR(...) ivm_error(IVM_ERR_INVALID_ARGUMENT, __VA_ARGS__)

/* Upper bound on element counts and transform lengths, so byte sizes never overflow. */
#define SIG_MAX_NUMEL (INT64_MAX / 64)
#define SIG_MAX_LEN ((int64_t)1 << 40)

static ivm_status check_io(const isa_infer_ctx *ctx, uint32_t min_in, uint32_t max_in) {
  if (ctx->n_in < min_in || ctx->n_in > max_in)
    return ERR("expected %u to %u inputs, got %u", min_in, max_in, ctx->n_in);
  if (ctx->n_out != 1) return ERR("expected 1 output, got %u", ctx->n_out);
  return iu_check_inputs(ctx, min_in);
}

static int is_real_float(int dt) {
  return dt == IVM_DT_F32 || dt == IVM_DT_F64 || dt == IVM_DT_F16 || dt == IVM_DT_BF16;
}

static ivm_status expect_float(const isa_infer_ctx *ctx, uint32_t i) {
  if (!is_real_float(ctx->in[i].dtype))
    return ERR("input %u: expected f16, bf16, f32 or f64, got %s", i, iu_dtn(ctx->in[i].dtype));
  return NULL;
}

/* A scalar (rank 0, or rank 1 with one element) of dtype i32 / i64. *v is set when its
 * value is known, else *known = 0. */
static ivm_status int_scalar(const isa_infer_ctx *ctx, uint32_t i, int64_t *v, int *known) {
  const isa_type *t = &ctx->in[i];
  *known = 0;
  if (t->dtype != IVM_DT_I32 && t->dtype != IVM_DT_I64)
    return ERR("input %u: expected i32 or i64, got %s", i, iu_dtn(t->dtype));
  if (t->rank > 1 || (t->rank == 1 && t->dims[0] >= 0 && t->dims[0] != 1))
    return ERR("input %u: expected a scalar", i);
  if (t->rank < 0 || (t->rank == 1 && t->dims[0] < 0)) return NULL;
  if (!ctx->in_data || !ctx->in_data[i]) return NULL;
  if (t->dtype == IVM_DT_I64) {
    memcpy(v, ctx->in_data[i], 8);
  } else {
    int32_t x;
    memcpy(&x, ctx->in_data[i], 4);
    *v = x;
  }
  *known = 1;
  return NULL;
}

/* A float scalar (rank 0 or [1]); only its shape is checked here. */
static ivm_status float_scalar(const isa_infer_ctx *ctx, uint32_t i) {
  IVM_TRY(expect_float(ctx, i));
  const isa_type *t = &ctx->in[i];
  if (t->rank > 1 || (t->rank == 1 && t->dims[0] >= 0 && t->dims[0] != 1))
    return ERR("input %u: expected a scalar", i);
  return NULL;
}

static ivm_status check_numel(const isa_type *o) {
  int64_t p = 1;
  for (int k = 0; k < o->rank; k++) {
    if (o->dims[k] == 0) return NULL;
  }
  for (int k = 0; k < o->rank; k++) {
    if (o->dims[k] < 0) continue;
    if (p != 0 && o->dims[k] > SIG_MAX_NUMEL / p) return ERR("output element count overflows");
    p *= o->dims[k];
  }
  return NULL;
}

static ivm_status check_flag(const isa_infer_ctx *ctx, int slot, const char *name) {
  int64_t v = ctx->attrs[slot].v.i;
  if (v != 0 && v != 1) return ERR("%s must be 0 or 1, got %lld", name, (long long)v);
  return NULL;
}

/* The dtypes an output_datatype attribute may name (ONNX numbering). */
static ivm_status check_out_dtype(int64_t dt) {
  switch (dt) {
    case IVM_DT_U8: case IVM_DT_U16: case IVM_DT_U32: case IVM_DT_U64:
    case IVM_DT_I8: case IVM_DT_I16: case IVM_DT_I32: case IVM_DT_I64:
    case IVM_DT_F16: case IVM_DT_F32: case IVM_DT_F64: case IVM_DT_BF16:
      return NULL;
    default:
      return ERR("output_datatype %lld is not a numeric dtype", (long long)dt);
  }
}

/* ---- DFT ------------------------------------------------------------------------------- */

ivm_status isa_infer_signal_dft(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 2));
  IVM_TRY(expect_float(ctx, 0));
  IVM_TRY(check_flag(ctx, ISA_A_DFT_inverse, "inverse"));
  IVM_TRY(check_flag(ctx, ISA_A_DFT_onesided, "onesided"));
  const isa_type *x = &ctx->in[0];
  int onesided = (int)ctx->attrs[ISA_A_DFT_onesided].v.i;
  int64_t axis = ctx->attrs[ISA_A_DFT_axis].v.i;
  int64_t n = ISA_DIM_ANY;
  int have_len = iu_present(ctx, 1);
  if (have_len) {
    int known = 0;
    IVM_TRY(int_scalar(ctx, 1, &n, &known));
    if (known && (n < 1 || n > SIG_MAX_LEN))
      return ERR("dft_length %lld out of range", (long long)n);
    if (!known) n = ISA_DIM_ANY;
  }
  isa_type *o = &ctx->out[0];
  iu_set_out(o, x->dtype, x->rank);
  if (x->rank < 0) return NULL;
  int r = x->rank;
  if (r < 2) return ERR("input 0: expected rank >= 2 ([batch, signal..., 1 or 2]), got %d", r);
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r - 2) return ERR("axis %lld out of range for rank %d", (long long)axis, r);
  int64_t last = x->dims[r - 1];
  if (last >= 0 && last != 1 && last != 2)
    return ERR("input 0: last dimension must be 1 (real) or 2 (complex), got %lld", (long long)last);
  for (int k = 0; k < r - 1; k++) o->dims[k] = x->dims[k];
  o->dims[r - 1] = 2;
  if (!have_len) {
    n = x->dims[a];
    if (n == 0) return ERR("DFT along an empty axis");
    if (n > SIG_MAX_LEN) return ERR("DFT length %lld too large", (long long)n);
  }
  if (n >= 0) o->dims[a] = onesided ? n / 2 + 1 : n;
  else o->dims[a] = onesided ? ISA_DIM_ANY : n; /* an unknown or symbolic length */
  return check_numel(o);
}

/* ---- STFT ------------------------------------------------------------------------------ */

ivm_status isa_infer_signal_stft(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 2, 4));
  IVM_TRY(expect_float(ctx, 0));
  IVM_TRY(check_flag(ctx, ISA_A_STFT_onesided, "onesided"));
  const isa_type *x = &ctx->in[0];
  int onesided = (int)ctx->attrs[ISA_A_STFT_onesided].v.i;
  int64_t step = -1, fl = -1;
  int step_known = 0, fl_known = 0;
  IVM_TRY(int_scalar(ctx, 1, &step, &step_known));
  if (step_known && step < 1) return ERR("frame_step must be positive, got %lld", (long long)step);
  int have_window = iu_present(ctx, 2), have_fl = iu_present(ctx, 3);
  if (!have_window && !have_fl) return ERR("STFT needs a window or a frame_length");
  if (have_fl) {
    IVM_TRY(int_scalar(ctx, 3, &fl, &fl_known));
    if (fl_known && (fl < 1 || fl > SIG_MAX_LEN))
      return ERR("frame_length %lld out of range", (long long)fl);
  }
  if (have_window) {
    const isa_type *w = &ctx->in[2];
    if (w->dtype != x->dtype)
      return ERR("input 2: window must be %s, got %s", iu_dtn(x->dtype), iu_dtn(w->dtype));
    if (w->rank >= 0 && w->rank != 1) return ERR("input 2: window must be 1-D, got rank %d", w->rank);
    int64_t wl = w->rank == 1 ? w->dims[0] : -1;
    if (wl >= 0) {
      if (wl < 1) return ERR("input 2: empty window");
      if (fl_known && wl != fl)
        return ERR("window length %lld differs from frame_length %lld", (long long)wl, (long long)fl);
      if (!have_fl) {
        fl = wl;
        fl_known = 1;
      }
    }
  }
  isa_type *o = &ctx->out[0];
  iu_set_out(o, x->dtype, 4);
  o->dims[3] = 2;
  if (x->rank < 0) return NULL;
  if (x->rank != 3) return ERR("input 0: expected [batch, length, 1 or 2], got rank %d", x->rank);
  int64_t last = x->dims[2];
  if (last >= 0 && last != 1 && last != 2)
    return ERR("input 0: last dimension must be 1 (real) or 2 (complex), got %lld", (long long)last);
  o->dims[0] = x->dims[0];
  int64_t len = x->dims[1];
  if (fl_known) o->dims[2] = onesided ? fl / 2 + 1 : fl;
  if (fl_known && len >= 0) {
    if (fl > len)
      return ERR("frame length %lld exceeds the signal length %lld", (long long)fl, (long long)len);
    if (step_known) o->dims[1] = (len - fl) / step + 1;
  }
  return check_numel(o);
}

/* ---- windows ---------------------------------------------------------------------------- */

ivm_status isa_infer_signal_window(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 1, 1));
  /* HannWindow, HammingWindow and BlackmanWindow share the attribute layout. */
  int64_t odt = ctx->attrs[ISA_A_HannWindow_output_datatype].v.i;
  IVM_TRY(check_out_dtype(odt));
  IVM_TRY(check_flag(ctx, ISA_A_HannWindow_periodic, "periodic"));
  int64_t size = -1;
  int known = 0;
  IVM_TRY(int_scalar(ctx, 0, &size, &known));
  if (known && (size < 0 || size > SIG_MAX_NUMEL))
    return ERR("window size %lld out of range", (long long)size);
  isa_type *o = &ctx->out[0];
  iu_set_out(o, (int)odt, 1);
  if (known) o->dims[0] = size;
  return NULL;
}

/* ---- MelWeightMatrix ------------------------------------------------------------------ */

ivm_status isa_infer_signal_mel(isa_infer_ctx *ctx) {
  IVM_TRY(check_io(ctx, 5, 5));
  int64_t odt = ctx->attrs[ISA_A_MelWeightMatrix_output_datatype].v.i;
  IVM_TRY(check_out_dtype(odt));
  int64_t v[3] = {-1, -1, -1};
  int known[3] = {0, 0, 0};
  for (uint32_t i = 0; i < 3; i++) {
    IVM_TRY(int_scalar(ctx, i, &v[i], &known[i]));
    if (ctx->in[i].dtype != ctx->in[0].dtype)
      return ERR("input %u: expected %s like input 0, got %s", i, iu_dtn(ctx->in[0].dtype),
                 iu_dtn(ctx->in[i].dtype));
  }
  IVM_TRY(float_scalar(ctx, 3));
  IVM_TRY(float_scalar(ctx, 4));
  if (ctx->in[4].dtype != ctx->in[3].dtype)
    return ERR("input 4: expected %s like input 3, got %s", iu_dtn(ctx->in[3].dtype),
               iu_dtn(ctx->in[4].dtype));
  if (known[0] && (v[0] < 0 || v[0] > SIG_MAX_LEN))
    return ERR("num_mel_bins %lld out of range", (long long)v[0]);
  if (known[1] && (v[1] < 1 || v[1] > SIG_MAX_LEN))
    return ERR("dft_length %lld out of range", (long long)v[1]);
  if (known[2] && v[2] < 1) return ERR("sample_rate must be positive, got %lld", (long long)v[2]);
  isa_type *o = &ctx->out[0];
  iu_set_out(o, (int)odt, 2);
  if (known[1]) o->dims[0] = v[1] / 2 + 1;
  if (known[0]) o->dims[1] = v[0];
  return check_numel(o);
}
