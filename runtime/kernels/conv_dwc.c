/* Depthwise Conv over blocks of 16 channels, f32, 2-D, AVX-512: the layout choice for
 * small planes.
 *
 * conv_dw.c vectorises along an output row, one channel at a time: on a 20 x 20 plane
 * that is two partly filled vectors per row (or flattened rows with their padding lanes)
 * and a copy of every plane. Here a block of 16 channels is copied once, transposed, into
 * a zero-padded buffer in channel-blocked layout, [row][column][16 channels], so one
 * vector holds the 16 channels of one input position: a tap is a vector load and an FMA
 * with that tap's 16 weights, every lane useful whatever the plane's width. 16 outputs
 * along a row take 16 accumulators, transposed back to channel rows (NCHW) in registers
 * before they are stored, with FusedConv's epilogue applied there.
 *
 * Each output is 0 + bias, then one FMA per tap in row-major tap order (intrinsics, so in
 * any build), the sum conv_dw.c forms where the compiler contracts its multiply-adds
 * (Release builds): the same bits there, and for any thread count (blocks of channels
 * are spread over the pool). Taken for multiplier-1 depthwise convs with at
 * least 16 channels whose padded block fits in half of L2 (conv.c): ppocr_v4_det's 5x5
 * convs on 40 x 40 and 20 x 20 planes measured 0.5-0.6x conv_dw.c's time, and
 * ppocr_mobile_v2_cls as a whole (rows of 96, a few high) 0.9x. */
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

#if defined(__GNUC__) && defined(__x86_64__)
#include <immintrin.h>

#include "runtime/kernels/conv_act512.h"
#include "runtime/kernels/transpose512.h"

#define DWC_FN CONV512_FN
#define DWC_MAX_TAPS 64
/* The padded block of 16 channels must stay in L2 (1 MiB here) while its outputs are
 * computed: 48 x 160 x 160 (1.7 MB) and 16 x 320 x 320 measured slower than conv_dw.c. */
#define DWC_MAX_BUFFER (512 * 1024)

typedef struct dwc_job {
  const conv_plan *p;
  const float *X, *W, *B;
  float *Y;
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t rows, cols;  /* the padded buffer: rows x cols positions of 16 floats */
  int64_t taps, toff[DWC_MAX_TAPS]; /* tap t of output (0, 0): position toff[t] */
  size_t buf_bytes;    /* per range: the buffer, then the block's weights [tap][16] */
  char *mem;
  int64_t blocks;      /* channel blocks over the batch */
  int ranges;
} dwc_job;

static __mmask16 dwc_lanes(int64_t n) { /* the first n lanes, n clamped to 0..16 */
  return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
}

/* The padded buffer's rows and columns: every position the taps of the outputs read, rows
 * rounded up to 16 outputs. */
static void buffer_extent(const isa_window *w, int64_t *rows, int64_t *cols) {
  int64_t owr = (w->out[1] + 15) / 16 * 16;
  *rows = (w->out[0] - 1) * w->stride[0] + (w->kernel[0] - 1) * w->dilation[0] + 1;
  *cols = (owr - 1) * w->stride[1] + (w->kernel[1] - 1) * w->dilation[1] + 1;
}

int rt_conv_depthwise_blocked_ok(const conv_plan *p) {
  if (!rt_conv_depthwise_ok(p) || p->w.n != 2 || p->Mg != 1 || p->C < 16 ||
      p->k_sz > DWC_MAX_TAPS || rt_sgemm_current_kernel() != RT_SGEMM_AVX512)
    return 0;
  int64_t rows, cols;
  buffer_extent(&p->w, &rows, &cols);
  return (double)rows * (double)cols * 16.0 * sizeof(float) <= DWC_MAX_BUFFER;
}

/* Channels [c0, c0 + nc) of image n into buf: padded position (r, q) holds input
 * (r - pt, q - pl) of each channel (zero outside), transposed 16 columns at a time. */
DWC_FN static void fill(const dwc_job *j, int64_t n, int64_t c0, int64_t nc, float *buf) {
  const conv_plan *p = j->p;
  const float *x = j->X + (n * p->C + c0) * p->in_sz;
  const __m512 zero = _mm512_setzero_ps();
  for (int64_t r = 0; r < j->rows; r++) {
    float *row = buf + r * j->cols * 16;
    int64_t iy = r - j->pt;
    if (iy < 0 || iy >= j->ih) {
      memset(row, 0, (size_t)(j->cols * 16) * sizeof(float));
      continue;
    }
    /* columns q in [q0, q1) come from the input; the rest are padding */
    int64_t q0 = j->pl < j->cols ? j->pl : j->cols;
    int64_t q1 = j->pl + j->iw < j->cols ? j->pl + j->iw : j->cols;
    memset(row, 0, (size_t)(q0 * 16) * sizeof(float));
    memset(row + q1 * 16, 0, (size_t)((j->cols - q1) * 16) * sizeof(float));
    for (int64_t q = q0; q < q1; q += 16) {
      int64_t k = q1 - q < 16 ? q1 - q : 16;
      __mmask16 cm = dwc_lanes(k);
      __m512 v[16];
      for (int c = 0; c < 16; c++)
        v[c] = c < nc ? _mm512_maskz_loadu_ps(cm, x + c * p->in_sz + iy * j->iw + q - j->pl)
                      : zero;
      t512_transpose16(v); /* v[i]: the 16 channels of column q + i */
      for (int i = 0; i < k; i++) _mm512_storeu_ps(row + (q + i) * 16, v[i]);
    }
  }
}

/* Output channels [c0, c0 + nc) of image n from the filled buffer. */
DWC_FN static void compute(const dwc_job *j, int64_t n, int64_t c0, int64_t nc,
                           const float *buf, const float *wt) {
  const conv_plan *p = j->p;
  const conv_act *act = conv_act_in_registers(p->act) ? p->act : NULL;
  __mmask16 chans = dwc_lanes(nc);
  /* 0 + bias, as conv_dw.c starts its sums (a -0 bias starts at +0) */
  __m512 bias = _mm512_add_ps(_mm512_setzero_ps(),
                              j->B ? _mm512_maskz_loadu_ps(chans, j->B + c0) : _mm512_setzero_ps());
  float *y = j->Y + (n * p->M + c0) * j->oh * j->ow;
  const int64_t step = j->sw * 16; /* floats between the inputs of adjacent outputs */
  for (int64_t oy = 0; oy < j->oh; oy++)
    for (int64_t ox = 0; ox < j->ow; ox += 16) {
      __m512 acc[16];
      for (int i = 0; i < 16; i++) acc[i] = bias;
      const float *base = buf + (oy * j->sh * j->cols + ox * j->sw) * 16;
      for (int64_t t = 0; t < j->taps; t++) {
        const float *s = base + j->toff[t] * 16;
        __m512 w = _mm512_loadu_ps(wt + t * 16);
        for (int i = 0; i < 16; i++)
          acc[i] = _mm512_fmadd_ps(w, _mm512_loadu_ps(s + i * step), acc[i]);
      }
      t512_transpose16(acc); /* acc[c]: channel c's 16 outputs along the row */
      __mmask16 cols = dwc_lanes(j->ow - ox);
      for (int c = 0; c < nc; c++) {
        __m512 v = act ? conv512_activate(act, acc[c]) : acc[c];
        _mm512_mask_storeu_ps(y + c * j->oh * j->ow + oy * j->ow + ox, cols, v);
      }
    }
  if (p->act && !act) /* an activation through its own kernel, then the clip and affine */
    for (int64_t c = 0; c < nc; c++) rt_conv_activate(p, y + c * j->oh * j->ow, j->oh * j->ow);
}

static void dwc_task(void *vjob, int64_t r0, int64_t r1) {
  const dwc_job *j = vjob;
  const conv_plan *p = j->p;
  int64_t per_image = (p->C + 15) / 16;
  for (int64_t r = r0; r < r1; r++) {
    float *buf = (float *)(j->mem + (size_t)r * j->buf_bytes);
    float *wt = buf + j->rows * j->cols * 16;
    for (int64_t b = r * j->blocks / j->ranges; b < (r + 1) * j->blocks / j->ranges; b++) {
      int64_t n = b / per_image, c0 = b % per_image * 16;
      int64_t nc = p->C - c0 < 16 ? p->C - c0 : 16;
      for (int64_t t = 0; t < j->taps; t++) /* the block's weights, [tap][channel] */
        for (int64_t c = 0; c < 16; c++) wt[t * 16 + c] = c < nc ? j->W[(c0 + c) * j->taps + t] : 0.0f;
      fill(j, n, c0, nc, buf);
      compute(j, n, c0, nc, buf, wt);
    }
  }
}

ivm_status rt_conv_depthwise_blocked_f32(const rt_call *call, const conv_plan *p) {
  if (!rt_conv_depthwise_blocked_ok(p))
    return ivm_error(IVM_ERR_INTERNAL, "Conv: channel-blocked depthwise given another shape");
  const isa_window *w = &p->w;
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  dwc_job job = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
                 .B = bt ? bt->data : NULL, .Y = call->out[0]->data};
  dwc_job *j = &job;
  j->ih = w->in[0], j->iw = w->in[1], j->oh = w->out[0], j->ow = w->out[1];
  j->kh = w->kernel[0], j->kw = w->kernel[1], j->sh = w->stride[0], j->sw = w->stride[1];
  j->dh = w->dilation[0], j->dw = w->dilation[1], j->pt = w->pad_begin[0];
  j->pl = w->pad_begin[1];
  if (j->oh <= 0 || j->ow <= 0) return NULL;
  buffer_extent(w, &j->rows, &j->cols);
  j->taps = j->kh * j->kw;
  for (int64_t ky = 0; ky < j->kh; ky++)
    for (int64_t kx = 0; kx < j->kw; kx++)
      j->toff[ky * j->kw + kx] = ky * j->dh * j->cols + kx * j->dw;
  j->buf_bytes = rt_align64((size_t)((j->rows * j->cols + j->taps) * 16) * sizeof(float));
  j->blocks = p->N * ((p->C + 15) / 16);
  rt_pool *pool = rt_call_pool(call);
  /* as conv_dw.c weighs a depthwise multiply-add */
  double macs = 4.0 * (double)p->N * (double)p->M * (double)(j->oh * j->ow) * (double)j->taps;
  int threads = rt_gemm_threads(pool, macs);
  j->ranges = j->blocks < threads ? (int)j->blocks : threads;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)j->ranges * j->buf_bytes, (void **)&j->mem));
  rt_pool_for(j->ranges > 1 ? pool : NULL, j->ranges, 1, dwc_task, j);
  return NULL;
}

#else
int rt_conv_depthwise_blocked_ok(const conv_plan *p) {
  (void)p;
  return 0;
}
ivm_status rt_conv_depthwise_blocked_f32(const rt_call *call, const conv_plan *p) {
  (void)call;
  (void)p;
  return ivm_error(IVM_ERR_RUNTIME, "Conv: channel-blocked depthwise kernel not built");
}
#endif
