/* Signal kernels: DFT, STFT, the cosine-sum windows and MelWeightMatrix.
 *
 * Transforms run in double precision whatever the storage dtype. A length-n transform
 * uses an iterative radix-2 FFT when n is a power of two, the direct O(n^2) sum for other
 * small n, and Bluestein's chirp-z algorithm (a power-of-two FFT convolution) for other
 * large n. Twiddles and chirps are computed per call from exact integer phases (k^2 mod 2n)
 * so large transforms keep their accuracy. Every buffer comes from the session scratch. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/kernels/ew.h"

#define SIG_PI 3.14159265358979323846
#define SIG_DIRECT_MAX 32 /* non-power-of-two lengths up to this use the direct sum */

static ivm_status sig_err(const char *op, const char *msg) {
  return ivm_error(IVM_ERR_RUNTIME, "%s: %s", op, msg);
}

/* ---- element access ------------------------------------------------------------------ */
typedef double (*sig_ld_fn)(const void *p, int64_t i);
typedef void (*sig_st_fn)(void *p, int64_t i, double v);

static double ld_f32(const void *p, int64_t i) { return ((const float *)p)[i]; }
static double ld_f64(const void *p, int64_t i) { return ((const double *)p)[i]; }
static double ld_f16(const void *p, int64_t i) { return isa_f16_to_f32(((const uint16_t *)p)[i]); }
static double ld_bf16(const void *p, int64_t i) { return isa_bf16_to_f32(((const uint16_t *)p)[i]); }

static sig_ld_fn sig_loader(int dt) {
  switch (dt) {
    case IVM_DT_F32: return ld_f32;
    case IVM_DT_F64: return ld_f64;
    case IVM_DT_F16: return ld_f16;
    case IVM_DT_BF16: return ld_bf16;
    default: return NULL;
  }
}

static void st_f32(void *p, int64_t i, double v) { ((float *)p)[i] = (float)v; }
static void st_f64(void *p, int64_t i, double v) { ((double *)p)[i] = v; }
static void st_f16(void *p, int64_t i, double v) { ((uint16_t *)p)[i] = isa_f32_to_f16((float)v); }
static void st_bf16(void *p, int64_t i, double v) { ((uint16_t *)p)[i] = isa_f32_to_bf16((float)v); }
static void st_u8(void *p, int64_t i, double v) { ((uint8_t *)p)[i] = ew_sat_u8(v); }
static void st_u16(void *p, int64_t i, double v) { ((uint16_t *)p)[i] = ew_sat_u16(v); }
static void st_u32(void *p, int64_t i, double v) { ((uint32_t *)p)[i] = ew_sat_u32(v); }
static void st_u64(void *p, int64_t i, double v) { ((uint64_t *)p)[i] = ew_sat_u64(v); }
static void st_i8(void *p, int64_t i, double v) { ((int8_t *)p)[i] = ew_sat_i8(v); }
static void st_i16(void *p, int64_t i, double v) { ((int16_t *)p)[i] = ew_sat_i16(v); }
static void st_i32(void *p, int64_t i, double v) { ((int32_t *)p)[i] = ew_sat_i32(v); }
static void st_i64(void *p, int64_t i, double v) { ((int64_t *)p)[i] = ew_sat_i64(v); }

static sig_st_fn sig_storer(int dt) {
  switch (dt) {
    case IVM_DT_F32: return st_f32;
    case IVM_DT_F64: return st_f64;
    case IVM_DT_F16: return st_f16;
    case IVM_DT_BF16: return st_bf16;
    case IVM_DT_U8: return st_u8;
    case IVM_DT_U16: return st_u16;
    case IVM_DT_U32: return st_u32;
    case IVM_DT_U64: return st_u64;
    case IVM_DT_I8: return st_i8;
    case IVM_DT_I16: return st_i16;
    case IVM_DT_I32: return st_i32;
    case IVM_DT_I64: return st_i64;
    default: return NULL;
  }
}

/* A scalar input (i32 / i64) or an error. */
static ivm_status sig_int_scalar(const char *op, const rt_tensor *t, int64_t *v) {
  if (!t || rt_numel(t) != 1) return sig_err(op, "expected an integer scalar");
  if (t->dtype == IVM_DT_I64) {
    memcpy(v, t->data, 8);
  } else if (t->dtype == IVM_DT_I32) {
    int32_t x;
    memcpy(&x, t->data, 4);
    *v = x;
  } else {
    return sig_err(op, "expected an i32 or i64 scalar");
  }
  return NULL;
}

/* ---- FFT ------------------------------------------------------------------------------- */
enum { FFT_RADIX2 = 0, FFT_DIRECT = 1, FFT_BLUESTEIN = 2 };

typedef struct sig_fft {
  int64_t n; /* transform length */
  int kind;
  int64_t m;     /* radix-2 length: n (RADIX2) or the convolution length (BLUESTEIN) */
  double *tw;    /* RADIX2 / BLUESTEIN: m/2 twiddles e^{-2 pi i j/m}; DIRECT: n of e^{-2 pi i j/n} */
  double *chirp; /* BLUESTEIN: n values e^{-i pi k^2 / n} */
  double *bf;    /* BLUESTEIN: m values, FFT of the conjugate chirp filter */
  double *work;  /* BLUESTEIN: m values; DIRECT: n values */
} sig_fft;

static int is_pow2(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

/* Doubles the plan for length n needs (complex values count 2), or -1 if too large. */
static int64_t fft_plan_doubles(int64_t n, int *kind, int64_t *m) {
  if (n < 1 || n > ((int64_t)1 << 40)) return -1;
  if (is_pow2(n)) {
    *kind = FFT_RADIX2;
    *m = n;
    return n; /* n/2 complex twiddles */
  }
  if (n <= SIG_DIRECT_MAX) {
    *kind = FFT_DIRECT;
    *m = 0;
    return 4 * n;
  }
  int64_t mm = 1;
  while (mm < 2 * n - 1) mm <<= 1;
  *kind = FFT_BLUESTEIN;
  *m = mm;
  return mm + 2 * n + 4 * mm;
}

static void fft_radix2(double *a, int64_t m, const double *tw) {
  for (int64_t i = 1, j = 0; i < m; i++) { /* bit-reversal permutation */
    int64_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      double t0 = a[2 * i], t1 = a[2 * i + 1];
      a[2 * i] = a[2 * j];
      a[2 * i + 1] = a[2 * j + 1];
      a[2 * j] = t0;
      a[2 * j + 1] = t1;
    }
  }
  for (int64_t len = 2; len <= m; len <<= 1) {
    int64_t half = len >> 1, step = m / len;
    for (int64_t i = 0; i < m; i += len) {
      for (int64_t j = 0; j < half; j++) {
        double wr = tw[2 * j * step], wi = tw[2 * j * step + 1];
        double *u = a + 2 * (i + j), *v = a + 2 * (i + j + half);
        double vr = v[0] * wr - v[1] * wi, vi = v[0] * wi + v[1] * wr;
        v[0] = u[0] - vr;
        v[1] = u[1] - vi;
        u[0] += vr;
        u[1] += vi;
      }
    }
  }
}

/* e^{-2 pi i j / m} for j < count. */
static void fill_twiddles(double *tw, int64_t count, int64_t m) {
  for (int64_t j = 0; j < count; j++) {
    double ang = -2.0 * SIG_PI * (double)j / (double)m;
    tw[2 * j] = cos(ang);
    tw[2 * j + 1] = sin(ang);
  }
}

/* Builds the plan in buf (fft_plan_doubles(n) doubles). */
static void fft_plan(sig_fft *p, int64_t n, double *buf) {
  memset(p, 0, sizeof *p);
  p->n = n;
  fft_plan_doubles(n, &p->kind, &p->m);
  if (p->kind == FFT_RADIX2) {
    p->tw = buf;
    fill_twiddles(p->tw, n / 2, n);
    return;
  }
  if (p->kind == FFT_DIRECT) {
    p->tw = buf;
    p->work = buf + 2 * n;
    fill_twiddles(p->tw, n, n);
    return;
  }
  int64_t m = p->m;
  p->tw = buf;
  p->chirp = buf + m;
  p->bf = p->chirp + 2 * n;
  p->work = p->bf + 2 * m;
  fill_twiddles(p->tw, m / 2, m);
  /* chirp c_k = e^{-i pi k^2 / n}, with k^2 reduced mod 2n exactly */
  int64_t q = 0, two_n = 2 * n;
  for (int64_t k = 0; k < n; k++) {
    double ang = -SIG_PI * (double)q / (double)n;
    p->chirp[2 * k] = cos(ang);
    p->chirp[2 * k + 1] = sin(ang);
    q = (q + 2 * k + 1) % two_n;
  }
  /* filter b_l = conj(c_|l|), wrapped around the length-m circle */
  memset(p->bf, 0, sizeof(double) * 2 * (size_t)m);
  for (int64_t l = 0; l < n; l++) {
    p->bf[2 * l] = p->chirp[2 * l];
    p->bf[2 * l + 1] = -p->chirp[2 * l + 1];
    if (l > 0) {
      p->bf[2 * (m - l)] = p->chirp[2 * l];
      p->bf[2 * (m - l) + 1] = -p->chirp[2 * l + 1];
    }
  }
  fft_radix2(p->bf, m, p->tw);
}

/* In-place forward DFT of x (n complex values): X_k = sum_j x_j e^{-2 pi i jk/n}. */
static void fft_exec(const sig_fft *p, double *x) {
  int64_t n = p->n;
  if (p->kind == FFT_RADIX2) {
    fft_radix2(x, n, p->tw);
    return;
  }
  if (p->kind == FFT_DIRECT) {
    double *y = p->work;
    for (int64_t k = 0; k < n; k++) {
      double sr = 0.0, si = 0.0;
      int64_t idx = 0;
      for (int64_t j = 0; j < n; j++) {
        double wr = p->tw[2 * idx], wi = p->tw[2 * idx + 1];
        sr += x[2 * j] * wr - x[2 * j + 1] * wi;
        si += x[2 * j] * wi + x[2 * j + 1] * wr;
        idx += k;
        if (idx >= n) idx -= n;
      }
      y[2 * k] = sr;
      y[2 * k + 1] = si;
    }
    memcpy(x, y, sizeof(double) * 2 * (size_t)n);
    return;
  }
  int64_t m = p->m;
  double *w = p->work;
  const double *c = p->chirp;
  for (int64_t j = 0; j < n; j++) {
    w[2 * j] = x[2 * j] * c[2 * j] - x[2 * j + 1] * c[2 * j + 1];
    w[2 * j + 1] = x[2 * j] * c[2 * j + 1] + x[2 * j + 1] * c[2 * j];
  }
  memset(w + 2 * n, 0, sizeof(double) * 2 * (size_t)(m - n));
  fft_radix2(w, m, p->tw);
  /* pointwise product, conjugated so that a forward FFT computes the inverse */
  for (int64_t k = 0; k < m; k++) {
    double ar = w[2 * k], ai = w[2 * k + 1], br = p->bf[2 * k], bi = p->bf[2 * k + 1];
    w[2 * k] = ar * br - ai * bi;
    w[2 * k + 1] = -(ar * bi + ai * br);
  }
  fft_radix2(w, m, p->tw);
  double s = 1.0 / (double)m;
  for (int64_t k = 0; k < n; k++) {
    double vr = w[2 * k] * s, vi = -w[2 * k + 1] * s; /* conj back, scale */
    x[2 * k] = vr * c[2 * k] - vi * c[2 * k + 1];
    x[2 * k + 1] = vr * c[2 * k + 1] + vi * c[2 * k];
  }
}

/* Scratch for a plan of length n plus `extra` doubles after it; *line points there. */
static ivm_status fft_setup(const char *op, rt_scratch *s, int64_t n, int64_t extra, sig_fft *p,
                            double **line) {
  int kind;
  int64_t m;
  int64_t pd = fft_plan_doubles(n, &kind, &m);
  if (pd < 0 || extra < 0 || extra > ((int64_t)1 << 42)) return sig_err(op, "transform too large");
  void *buf = NULL;
  IVM_TRY(rt_scratch_get(s, (size_t)(pd + extra) * sizeof(double), &buf));
  fft_plan(p, n, buf);
  *line = (double *)buf + pd;
  return NULL;
}

/* ---- DFT ------------------------------------------------------------------------------- */
ivm_status rt_k_DFT(const rt_call *call) {
  static const char *op = "DFT";
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  int64_t axis = ew_attr_i(call, ISA_A_DFT_axis, 1);
  int inverse = ew_attr_i(call, ISA_A_DFT_inverse, 0) != 0;
  int onesided = ew_attr_i(call, ISA_A_DFT_onesided, 0) != 0;
  if (r < 2 || y->rank != r) return sig_err(op, "bad ranks");
  int64_t a = axis < 0 ? axis + r : axis;
  if (a < 0 || a > r - 2) return sig_err(op, "axis out of range");
  int64_t C = x->dims[r - 1], L = x->dims[a];
  if ((C != 1 && C != 2) || y->dims[r - 1] != 2) return sig_err(op, "last dimension must be 1 or 2");
  int64_t n = L;
  if (call->n_in > 1 && call->in[1]) {
    IVM_TRY(sig_int_scalar(op, call->in[1], &n));
    if (n < 1) return sig_err(op, "dft_length must be positive");
  }
  int64_t lout = onesided ? n / 2 + 1 : n;
  if (y->dims[a] != lout) return sig_err(op, "output shape does not match dft_length");
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < r - 1; k++) {
    if (k != a && y->dims[k] != x->dims[k]) return sig_err(op, "output shape does not match input");
    if (k < a) outer *= x->dims[k];
    if (k > a) inner *= x->dims[k];
  }
  if (outer == 0 || inner == 0) return NULL;
  sig_ld_fn ld = sig_loader(x->dtype);
  sig_st_fn st = sig_storer(y->dtype);
  if (!ld || !st || x->dtype != y->dtype) return sig_err(op, "unsupported dtype");
  sig_fft plan;
  double *line;
  IVM_TRY(fft_setup(op, call->scratch, n, 2 * n, &plan, &line));
  int64_t ncopy = L < n ? L : n;
  double scale = inverse ? 1.0 / (double)n : 1.0, sgn = inverse ? -1.0 : 1.0;
  for (int64_t o = 0; o < outer; o++) {
    for (int64_t i = 0; i < inner; i++) {
      for (int64_t k = 0; k < ncopy; k++) {
        int64_t src = ((o * L + k) * inner + i) * C;
        line[2 * k] = ld(x->data, src);
        line[2 * k + 1] = C == 2 ? sgn * ld(x->data, src + 1) : 0.0; /* conj for inverse */
      }
      for (int64_t k = ncopy; k < n; k++) line[2 * k] = line[2 * k + 1] = 0.0;
      fft_exec(&plan, line);
      for (int64_t k = 0; k < lout; k++) {
        int64_t dst = ((o * lout + k) * inner + i) * 2;
        st(y->data, dst, line[2 * k] * scale);
        st(y->data, dst + 1, sgn * line[2 * k + 1] * scale);
      }
    }
  }
  return NULL;
}

/* ---- STFT ------------------------------------------------------------------------------ */
ivm_status rt_k_STFT(const rt_call *call) {
  static const char *op = "STFT";
  const rt_tensor *x = call->in[0];
  const rt_tensor *win = call->n_in > 2 ? call->in[2] : NULL;
  const rt_tensor *flt = call->n_in > 3 ? call->in[3] : NULL;
  rt_tensor *y = call->out[0];
  int onesided = ew_attr_i(call, ISA_A_STFT_onesided, 1) != 0;
  if (x->rank != 3 || y->rank != 4) return sig_err(op, "bad ranks");
  int64_t B = x->dims[0], L = x->dims[1], C = x->dims[2];
  if (C != 1 && C != 2) return sig_err(op, "last dimension must be 1 or 2");
  int64_t step = 0, fl = -1;
  IVM_TRY(sig_int_scalar(op, call->in[1], &step));
  if (step < 1) return sig_err(op, "frame_step must be positive");
  if (flt) IVM_TRY(sig_int_scalar(op, flt, &fl));
  if (win) {
    if (win->rank != 1 || win->dtype != x->dtype) return sig_err(op, "bad window");
    if (flt && win->dims[0] != fl) return sig_err(op, "window length differs from frame_length");
    fl = win->dims[0];
  }
  if (fl < 1) return sig_err(op, "frame length must be positive");
  if (fl > L) return sig_err(op, "frame length exceeds the signal length");
  int64_t frames = (L - fl) / step + 1, bins = onesided ? fl / 2 + 1 : fl;
  if (y->dims[0] != B || y->dims[1] != frames || y->dims[2] != bins || y->dims[3] != 2)
    return sig_err(op, "output shape does not match the inputs");
  if (B == 0) return NULL;
  sig_ld_fn ld = sig_loader(x->dtype);
  sig_st_fn st = sig_storer(y->dtype);
  if (!ld || !st || x->dtype != y->dtype) return sig_err(op, "unsupported dtype");
  sig_fft plan;
  double *line;
  IVM_TRY(fft_setup(op, call->scratch, fl, 3 * fl, &plan, &line));
  double *w = line + 2 * fl; /* the window in double, 1 if absent */
  for (int64_t k = 0; k < fl; k++) w[k] = win ? ld(win->data, k) : 1.0;
  for (int64_t b = 0; b < B; b++) {
    for (int64_t f = 0; f < frames; f++) {
      int64_t base = (b * L + f * step) * C;
      for (int64_t k = 0; k < fl; k++) {
        line[2 * k] = ld(x->data, base + k * C) * w[k];
        line[2 * k + 1] = C == 2 ? ld(x->data, base + k * C + 1) * w[k] : 0.0;
      }
      fft_exec(&plan, line);
      int64_t dst = ((b * frames + f) * bins) * 2;
      for (int64_t k = 0; k < bins; k++) {
        st(y->data, dst + 2 * k, line[2 * k]);
        st(y->data, dst + 2 * k + 1, line[2 * k + 1]);
      }
    }
  }
  return NULL;
}

/* ---- windows ---------------------------------------------------------------------------- */
/* y[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), N = size (periodic) or size - 1.
 * A symmetric window of size 1 is [1] (N would be 0), as in numpy and scipy. */
static ivm_status cosine_window(const rt_call *call, const char *op, double a0, double a1,
                                double a2) {
  rt_tensor *y = call->out[0];
  int64_t size = 0;
  IVM_TRY(sig_int_scalar(op, call->in[0], &size));
  int periodic = ew_attr_i(call, ISA_A_HannWindow_periodic, 1) != 0;
  if (size < 0 || y->rank != 1 || y->dims[0] != size) return sig_err(op, "output size does not match");
  sig_st_fn st = sig_storer(y->dtype);
  if (!st) return sig_err(op, "unsupported output dtype");
  int64_t N = periodic ? size : size - 1;
  for (int64_t i = 0; i < size; i++) {
    double v = 1.0;
    if (N > 0) {
      double t = 2.0 * SIG_PI * (double)i / (double)N;
      v = a0 - a1 * cos(t) + a2 * cos(2.0 * t);
    }
    st(y->data, i, v);
  }
  return NULL;
}

ivm_status rt_k_HannWindow(const rt_call *call) {
  return cosine_window(call, "HannWindow", 0.5, 0.5, 0.0);
}

ivm_status rt_k_HammingWindow(const rt_call *call) {
  return cosine_window(call, "HammingWindow", 25.0 / 46.0, 21.0 / 46.0, 0.0);
}

ivm_status rt_k_BlackmanWindow(const rt_call *call) {
  return cosine_window(call, "BlackmanWindow", 0.42, 0.5, 0.08);
}

/* ---- MelWeightMatrix ------------------------------------------------------------------- */
/* As ONNX's reference: num_mel_bins + 2 points evenly spaced on the mel scale
 * mel(f) = 2595 log10(1 + f / 700) between the edges, mapped to spectrogram bins
 * floor((dft_length + 1) f / sample_rate); triangle i rises from point i to point i+1
 * and falls to point i+2, with a peak of 1. The mel edges are computed in the precision of
 * the edge inputs (f32 unless f64), the rest in double. */
/* Python's float // (numpy's npy_divmod), which the reference uses for the bin indices. */
static double py_floordiv(double a, double b) {
  double mod = fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0.0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0.0) return copysign(0.0, a / b);
  double fl = floor(div);
  if (div - fl > 0.5) fl += 1.0;
  return fl;
}

ivm_status rt_k_MelWeightMatrix(const rt_call *call) {
  static const char *op = "MelWeightMatrix";
  rt_tensor *y = call->out[0];
  int64_t nmel = 0, dftlen = 0, rate = 0;
  IVM_TRY(sig_int_scalar(op, call->in[0], &nmel));
  IVM_TRY(sig_int_scalar(op, call->in[1], &dftlen));
  IVM_TRY(sig_int_scalar(op, call->in[2], &rate));
  for (int i = 3; i < 5; i++)
    if (!call->in[i] || rt_numel(call->in[i]) != 1 || !sig_loader(call->in[i]->dtype))
      return sig_err(op, "edge frequencies must be float scalars");
  if (nmel < 0 || dftlen < 1 || rate < 1) return sig_err(op, "bad num_mel_bins, dft_length or sample_rate");
  int64_t nspec = dftlen / 2 + 1;
  if (y->rank != 2 || y->dims[0] != nspec || y->dims[1] != nmel)
    return sig_err(op, "output shape does not match the inputs");
  sig_st_fn st = sig_storer(y->dtype);
  if (!st) return sig_err(op, "unsupported output dtype");
  double lo = sig_loader(call->in[3]->dtype)(call->in[3]->data, 0);
  double hi = sig_loader(call->in[4]->dtype)(call->in[4]->data, 0);
  double lo_mel, hi_mel, mel_step;
  if (call->in[3]->dtype == IVM_DT_F64) {
    lo_mel = 2595.0 * log10(1.0 + lo / 700.0);
    hi_mel = 2595.0 * log10(1.0 + hi / 700.0);
    mel_step = (hi_mel - lo_mel) / (double)(nmel + 2);
  } else {
    float l = 2595.0f * log10f(1.0f + (float)lo / 700.0f);
    float h = 2595.0f * log10f(1.0f + (float)hi / 700.0f);
    lo_mel = l;
    hi_mel = h;
    mel_step = (float)(h - l) / (float)(nmel + 2);
  }
  if (!isfinite(lo_mel) || !isfinite(hi_mel)) return sig_err(op, "edge frequencies out of range");
  int64_t nb = nmel + 2;
  if (rt_numel(y) > 0) {
    int64_t *pts;
    IVM_TRY(rt_scratch_get(call->scratch, (size_t)nb * sizeof(int64_t), (void **)&pts));
    for (int64_t i = 0; i < nb; i++) {
      double mel = (double)i * mel_step + lo_mel;
      double hz = 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
      double b = py_floordiv((double)(dftlen + 1) * hz, (double)rate);
      if (!(b >= 0.0 && b < (double)nspec + 1.0)) return sig_err(op, "a band edge lies outside the spectrogram bins");
      pts[i] = (int64_t)b;
    }
    for (int64_t k = 0; k < nspec * nmel; k++) st(y->data, k, 0.0);
    for (int64_t i = 0; i < nmel; i++) {
      int64_t l = pts[i], c = pts[i + 1], h = pts[i + 2];
      if (c == l) {
        if (c >= nspec) return sig_err(op, "a band edge lies outside the spectrogram bins");
        st(y->data, c * nmel + i, 1.0);
      } else {
        for (int64_t j = l; j <= c; j++) {
          if (j >= nspec) return sig_err(op, "a band edge lies outside the spectrogram bins");
          st(y->data, j * nmel + i, (double)(j - l) / (double)(c - l));
        }
      }
      if (h > c) {
        for (int64_t j = c; j < h; j++) {
          if (j >= nspec) return sig_err(op, "a band edge lies outside the spectrogram bins");
          st(y->data, j * nmel + i, (double)(h - j) / (double)(h - c));
        }
      }
    }
  }
  return NULL;
}
