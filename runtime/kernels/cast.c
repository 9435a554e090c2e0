/* Cast: every pair of the 13 dtypes. Each source dtype is read as a "value" (float for
 * f16/bf16, 0/1 for bool, the element itself otherwise); each destination converts a value:
 * float -> integer saturates (NaN -> 0) because C leaves out-of-range conversion undefined,
 * anything -> bool is "!= 0", integer -> integer wraps (C's modular conversion).
 * f32 -> bf16 truncates, as the ONNX 1.12 reference (and its test data) does. */
#include "runtime/kernels/ew.h"

/* f32 -> bf16 by truncation; NaN keeps a quiet-NaN payload bit so it cannot become inf. */
static inline uint16_t cast_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
  return (uint16_t)(x >> 16);
}

#define LD_BOOL(x) ((uint8_t)((x) != 0))

/* Sources: S(A, suffix, IVM_DT_x, storage type, LD). */
#define CAST_SRC(S, A)                                                            \
  S(A, f32, IVM_DT_F32, float, EW_ID) S(A, f64, IVM_DT_F64, double, EW_ID)        \
  S(A, f16, IVM_DT_F16, uint16_t, ew_f16_to_f32)                                  \
  S(A, bf16, IVM_DT_BF16, uint16_t, ew_bf16_to_f32)                               \
  S(A, u8, IVM_DT_U8, uint8_t, EW_ID) S(A, i8, IVM_DT_I8, int8_t, EW_ID)          \
  S(A, u16, IVM_DT_U16, uint16_t, EW_ID) S(A, i16, IVM_DT_I16, int16_t, EW_ID)    \
  S(A, u32, IVM_DT_U32, uint32_t, EW_ID) S(A, i32, IVM_DT_I32, int32_t, EW_ID)    \
  S(A, u64, IVM_DT_U64, uint64_t, EW_ID) S(A, i64, IVM_DT_I64, int64_t, EW_ID)    \
  S(A, b, IVM_DT_BOOL, uint8_t, LD_BOOL)

/* Destinations: D(A, suffix, IVM_DT_x, storage type, CV) where CV(v) converts a value. */
#define CV_INT(sat, T, v) _Generic((v), float: sat((double)(v)), double: sat((double)(v)), default: (T)(v))
#define CV_f32(v) ((float)(v))
#define CV_f64(v) ((double)(v))
#define CV_f16(v) ew_f32_to_f16((float)(v))
#define CV_bf16(v) cast_f32_to_bf16((float)(v))
#define CV_u8(v) CV_INT(ew_sat_u8, uint8_t, v)
#define CV_i8(v) CV_INT(ew_sat_i8, int8_t, v)
#define CV_u16(v) CV_INT(ew_sat_u16, uint16_t, v)
#define CV_i16(v) CV_INT(ew_sat_i16, int16_t, v)
#define CV_u32(v) CV_INT(ew_sat_u32, uint32_t, v)
#define CV_i32(v) CV_INT(ew_sat_i32, int32_t, v)
#define CV_u64(v) CV_INT(ew_sat_u64, uint64_t, v)
#define CV_i64(v) CV_INT(ew_sat_i64, int64_t, v)
#define CV_b(v) ((uint8_t)((v) != 0))

#define CAST_DST(D, A)                                                              \
  D(A, f32, IVM_DT_F32, float) D(A, f64, IVM_DT_F64, double)                        \
  D(A, f16, IVM_DT_F16, uint16_t) D(A, bf16, IVM_DT_BF16, uint16_t)                 \
  D(A, u8, IVM_DT_U8, uint8_t) D(A, i8, IVM_DT_I8, int8_t)                          \
  D(A, u16, IVM_DT_U16, uint16_t) D(A, i16, IVM_DT_I16, int16_t)                    \
  D(A, u32, IVM_DT_U32, uint32_t) D(A, i32, IVM_DT_I32, int32_t)                    \
  D(A, u64, IVM_DT_U64, uint64_t) D(A, i64, IVM_DT_I64, int64_t) D(A, b, IVM_DT_BOOL, uint8_t)

typedef void (*cast_fn)(int64_t n, const void *src, void *dst);

/* One function per (source, destination). The source entry travels into the
 * destination list as a tuple "(ssuf, ST_, LD, )"; CAST_CALL splices it with the
 * destination's fields into one argument list. */
#define CAST_UNPACK(...) __VA_ARGS__
#define CAST_CALL(m, ...) m(__VA_ARGS__)
#define CAST_DEF_D(SRC, dsuf, DDT, DT_) CAST_CALL(CAST_DEF, CAST_UNPACK SRC dsuf, DT_)
#define CAST_DEF(ssuf, ST_, LD, dsuf, DT_)                                    \
  static void cast_##ssuf##_##dsuf(int64_t n, const void *src, void *dst) { \
    const ST_ *s = (const ST_ *)src;                                        \
    DT_ *d = (DT_ *)dst;                                                    \
    for (int64_t i = 0; i < n; i++) d[i] = CV_##dsuf(LD(s[i]));             \
  }
#define CAST_DEF_S(A, ssuf, SDT, ST_, LD) CAST_DST(CAST_DEF_D, (ssuf, ST_, LD, ))
CAST_SRC(CAST_DEF_S, _)

#define CAST_ROW_D(SSUF, dsuf, DDT, DT_) [DDT] = CAST_CALL(CAST_NAME, CAST_UNPACK SSUF dsuf),
#define CAST_NAME(ssuf, dsuf) cast_##ssuf##_##dsuf
#define CAST_ROW_S(A, ssuf, SDT, ST_, LD) [SDT] = {CAST_DST(CAST_ROW_D, (ssuf, ))},
static const cast_fn cast_tbl[EW_NDT][EW_NDT] = {CAST_SRC(CAST_ROW_S, _)};

ivm_status rt_k_Cast(const rt_call *c) {
  IVM_TRY(ew_check_io(c, "Cast", 1, 1));
  const rt_tensor *x = c->in[0];
  rt_tensor *y = c->out[0];
  int64_t n = rt_numel(x);
  if (rt_numel(y) != n) return ivm_error(IVM_ERR_INTERNAL, "Cast: output size differs");
  int sd = x->dtype, dd = y->dtype;
  cast_fn fn = sd < EW_NDT && dd < EW_NDT ? cast_tbl[sd][dd] : NULL;
  if (!fn) return ivm_error(IVM_ERR_UNSUPPORTED, "Cast: %s -> %s not supported",
                            ivm_dtype_name((ivm_dtype)sd), ivm_dtype_name((ivm_dtype)dd));
  if (sd == dd && sd != IVM_DT_BOOL) {
    if (n && y->data != x->data) memmove(y->data, x->data, rt_nbytes(x));
    return NULL;
  }
  fn(n, x->data, y->data);
  return NULL;
}
