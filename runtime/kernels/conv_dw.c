/* Depthwise Conv (group == input channels > 1, so every output channel reads one input
 * channel), 1-D and 2-D, f32: a direct kernel. im2col would turn each channel into a
 * 1-row matrix product, which runs at a few GFLOPS.
 *
 * Per (image, channel) the input plane is copied once into a zero-padded buffer whose
 * columns are split by phase modulo the horizontal stride: phase q holds padded columns
 * q, q + sw, q + 2 sw, ... With that, the inputs of consecutive output columns under one
 * kernel tap are contiguous for any stride and dilation, and the inner loop is vector
 * loads and FMAs with no bounds checks. The buffer is as wide as the output rounded up
 * to whole vectors, so every output element goes through the same vector code: its value
 * is bias + tap(0,0) + tap(0,1) + ... in that order, whatever the thread count. Channels
 * are spread over the worker pool. */
#include <string.h>

#include "runtime/kernels/conv.h"
#include "runtime/kernels/gemm_par.h"

#if defined(__GNUC__) && !defined(__clang__)
#define DW_FMA_ATTR __attribute__((optimize("fp-contract=fast")))
#else
#define DW_FMA_ATTR
#endif

#define DW_V 8 /* floats per vector */
#define DW_MAX_TAPS 256 /* larger kernels take the im2col path */
typedef float dw_vec __attribute__((vector_size(DW_V * sizeof(float))));
typedef int32_t dw_ivec __attribute__((vector_size(DW_V * sizeof(int32_t))));

typedef void (*dw_block_fn)(int64_t taps, const int64_t *off, const float *src, const float *w,
                            float bias, float *out);

typedef struct dw_job {
  const conv_plan *p;
  const float *X, *W, *B;
  float *Y;
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t vw;       /* floats per vector of the row blocks: 8, or 16 with AVX-512 */
  dw_block_fn block[5]; /* [vectors]: NULL where there is none of that width */
  int64_t owr;      /* ow rounded up to whole vectors of vw */
  int64_t ph, pw;   /* rows and width of one phase of the padded buffer */
  size_t buf_bytes; /* one range's buffer, a multiple of 64 */
  int64_t taps, off[DW_MAX_TAPS]; /* tap t of output (0, 0) reads the buffer at off[t] */
  char *mem;
  int64_t items;
  int ranges;
} dw_job;

int rt_conv_depthwise_ok(const conv_plan *p) {
  return p->Cg == 1 && p->G == p->C && p->G > 1 && !p->trans_w &&
         (p->w.n == 1 || p->w.n == 2) &&
         p->k_sz <= DW_MAX_TAPS;
}

/* A macro, not a function: returning a 32-byte vector from a function is an ABI
 * question GCC warns about when AVX is not enabled (the sanitizer build). */
#define DW_LOAD(v, p) memcpy(&(v), (p), sizeof(v))

void rt_conv_fill_phases(const float *x, int64_t ih, int64_t iw, int64_t pt, int64_t pl,
                         int64_t sh, int64_t sw, int64_t ph, int64_t pw, float *buf) {
  for (int64_t qr = 0; qr < sh * sw; qr++)
    for (int64_t r = 0; r < ph; r++) {
      int64_t q = qr % sw; /* the column phase; qr / sw the row phase */
      float *dst = buf + (qr * ph + r) * pw;
      int64_t iy = r * sh + qr / sw - pt;
      if (iy < 0 || iy >= ih) {
        memset(dst, 0, (size_t)pw * sizeof(float));
        continue;
      }
      const float *row = x + iy * iw;
      /* column c reads input column first + c * sw: inside the row for c in [lo, hi) */
      int64_t first = q - pl;
      int64_t lo = first >= 0 ? 0 : (-first + sw - 1) / sw;
      int64_t hi = iw - first <= 0 ? 0 : (iw - first + sw - 1) / sw;
      if (hi > pw) hi = pw;
      if (lo > hi) lo = hi;
      memset(dst, 0, (size_t)lo * sizeof(float));
      if (sw == 1) {
        memcpy(dst + lo, row + first + lo, (size_t)(hi - lo) * sizeof(float));
      } else {
        int64_t c = lo;
        if (sw == 2) /* de-interleave a vector pair at a time, never past the row */
          for (; c + DW_V <= hi && first + 2 * (c + DW_V) <= iw; c += DW_V) {
            const float *s = row + first + c * 2;
            dw_vec a, b;
            DW_LOAD(a, s);
            DW_LOAD(b, s + DW_V);
            dw_vec e = __builtin_shuffle(a, b, (dw_ivec){0, 2, 4, 6, 8, 10, 12, 14});
            memcpy(dst + c, &e, sizeof e);
          }
        for (; c < hi; c++) dst[c] = row[first + c * sw];
      }
      memset(dst + hi, 0, (size_t)(pw - hi) * sizeof(float));
    }
}

/* NB vectors (type VT, VW floats) of one output row starting at column ox; tap t reads
 * src + off[t]. Each lane computes bias + its taps in order with one FMA each, so the
 * 8- and 16-float versions give the same bits. */
#define DW_BLOCK(NAME, VT, VW, ATTR, NB)                                                   \
  ATTR static void NAME(int64_t taps, const int64_t *off, const float *src, const float *w, \
                        float bias, float *out) {                                          \
    VT acc[NB];                                                                            \
    for (int v = 0; v < NB; v++) acc[v] = (VT){0} + bias;                                  \
    for (int64_t t = 0; t < taps; t++) {                                                   \
      const float *s = src + off[t];                                                       \
      VT wv = (VT){0} + w[t];                                                              \
      for (int v = 0; v < NB; v++) {                                                       \
        VT x;                                                                              \
        DW_LOAD(x, s + v * VW);                                                            \
        acc[v] += wv * x;                                                                  \
      }                                                                                    \
    }                                                                                      \
    memcpy(out, acc, sizeof acc);                                                          \
  }
DW_BLOCK(dw_block4, dw_vec, DW_V, DW_FMA_ATTR, 4)
DW_BLOCK(dw_block1, dw_vec, DW_V, DW_FMA_ATTR, 1)
/* Where the CPU has AVX-512 (as the sgemm kernel in use says): vectors of 16 floats, half
 * the loads and FMAs per output. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define DW_HAS_Z 1
typedef float dw_zvec __attribute__((vector_size(16 * sizeof(float))));
#define DW_Z_ATTR                                                                          \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma"), optimize("fp-contract=fast")))
DW_BLOCK(dw_zblock4, dw_zvec, 16, DW_Z_ATTR, 4)
DW_BLOCK(dw_zblock3, dw_zvec, 16, DW_Z_ATTR, 3)
DW_BLOCK(dw_zblock2, dw_zvec, 16, DW_Z_ATTR, 2)
DW_BLOCK(dw_zblock1, dw_zvec, 16, DW_Z_ATTR, 1)
#endif

/* One vector of four consecutive output rows (rows lie `rs` floats apart in the buffer):
 * narrow outputs share each weight broadcast across rows instead of columns. */
DW_FMA_ATTR static inline void dw_rows4(int64_t taps, const int64_t *off, const float *src,
                                        int64_t rs, const float *w, float bias,
                                        float out[4][DW_V]) {
  dw_vec acc[4];
  for (int v = 0; v < 4; v++) acc[v] = (dw_vec){0} + bias;
  for (int64_t t = 0; t < taps; t++) {
    const float *s = src + off[t];
    dw_vec wv = (dw_vec){0} + w[t];
    for (int v = 0; v < 4; v++) {
      dw_vec x;
      DW_LOAD(x, s + v * rs);
      acc[v] += wv * x;
    }
  }
  memcpy(out, acc, sizeof acc);
}

static void dw_channel(const dw_job *j, const float *buf, int64_t n, int64_t oc) {
  const float *w = j->W + oc * j->kh * j->kw;
  float bias = j->B ? j->B[oc] : 0.0f;
  float *y = j->Y + (n * j->p->M + oc) * j->oh * j->ow;
  const int64_t *off = j->off, taps = j->taps;
  int64_t oy = 0;
  if (j->owr < 4 * DW_V) /* narrow rows: blocks of four rows by one 8-float vector */
    for (; oy + 4 <= j->oh; oy += 4) {
      const float *row = buf + oy * j->sh * j->pw;
      for (int64_t ox = 0; ox < j->ow; ox += DW_V) { /* owr may be a multiple of 16 */
        float tmp[4][DW_V];
        int64_t valid = j->ow - ox < DW_V ? j->ow - ox : DW_V;
        dw_rows4(taps, off, row + ox, j->sh * j->pw, w, bias, tmp);
        for (int r = 0; r < 4; r++)
          memcpy(y + (oy + r) * j->ow + ox, tmp[r], (size_t)valid * sizeof(float));
      }
    }
  for (; oy < j->oh; oy++) {
    float *yr = y + oy * j->ow;
    const float *row = buf + oy * j->sh * j->pw;
    for (int64_t ox = 0; ox < j->owr;) {
      float tmp[4 * 16];
      /* the widest block left (one vector alone waits on its FMA chain) */
      int nb = j->owr - ox >= 4 * j->vw ? 4 : (int)((j->owr - ox) / j->vw);
      while (!j->block[nb]) nb--;
      int64_t width = nb * j->vw, valid = j->ow - ox < width ? j->ow - ox : width;
      float *dst = valid == width ? yr + ox : tmp;
      j->block[nb](taps, off, row + ox, w, bias, dst);
      if (dst == tmp) memcpy(yr + ox, tmp, (size_t)valid * sizeof(float));
      ox += width;
    }
  }
}

static void dw_task(void *vjob, int64_t r0, int64_t r1) {
  const dw_job *j = vjob;
  const conv_plan *p = j->p;
  for (int64_t r = r0; r < r1; r++) {
    float *buf = (float *)(j->mem + (size_t)r * j->buf_bytes);
    for (int64_t t = r * j->items / j->ranges; t < (r + 1) * j->items / j->ranges; t++) {
      int64_t n = t / p->C, c = t % p->C;
      rt_conv_fill_phases(j->X + (n * p->C + c) * p->in_sz, j->ih, j->iw, j->pt, j->pl, 1,
                          j->sw, j->ph, j->pw, buf);
      for (int64_t m = 0; m < p->Mg; m++) {
        int64_t oc = c * p->Mg + m;
        dw_channel(j, buf, n, oc);
        rt_conv_activate(p, j->Y + (n * p->M + oc) * j->oh * j->ow, j->oh * j->ow);
      }
    }
  }
}

ivm_status rt_conv_depthwise_f32(const rt_call *call, const conv_plan *p) {
  const isa_window *w = &p->w;
  int two = w->n == 2; /* 1-D runs as one row */
  const rt_tensor *bt = call->n_in > 2 ? call->in[2] : NULL;
  dw_job j = {.p = p, .X = call->in[0]->data, .W = call->in[1]->data,
              .B = bt ? bt->data : NULL, .Y = call->out[0]->data};
  j.ih = two ? w->in[0] : 1;
  j.oh = two ? w->out[0] : 1;
  j.kh = two ? w->kernel[0] : 1;
  j.sh = two ? w->stride[0] : 1;
  j.dh = two ? w->dilation[0] : 1;
  j.pt = two ? w->pad_begin[0] : 0;
  int last = w->n - 1;
  j.iw = w->in[last];
  j.ow = w->out[last];
  j.kw = w->kernel[last];
  j.sw = w->stride[last];
  j.dw = w->dilation[last];
  j.pl = w->pad_begin[last];
  if (j.oh <= 0 || j.ow <= 0) return NULL;
  j.vw = DW_V;
  j.block[4] = dw_block4;
  j.block[1] = dw_block1;
#ifdef DW_HAS_Z
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512) {
    j.vw = 16;
    j.block[4] = dw_zblock4;
    j.block[3] = dw_zblock3;
    j.block[2] = dw_zblock2;
    j.block[1] = dw_zblock1;
  }
#endif
  j.owr = (j.ow + j.vw - 1) / j.vw * j.vw;
  j.ph = (j.oh - 1) * j.sh + (j.kh - 1) * j.dh + 1;
  j.pw = j.owr + (j.kw - 1) * j.dw / j.sw;
  j.buf_bytes = rt_align64((size_t)(j.sw * j.ph * j.pw) * sizeof(float));
  /* tap (ky, kx) of output (oy, ox) reads phase (kx dw) % sw, row oy sh + ky dh, column
   * ox + (kx dw) / sw */
  j.taps = j.kh * j.kw;
  for (int64_t ky = 0; ky < j.kh; ky++)
    for (int64_t kx = 0; kx < j.kw; kx++) {
      int64_t o = kx * j.dw;
      j.off[ky * j.kw + kx] = ((o % j.sw) * j.ph + ky * j.dh) * j.pw + o / j.sw;
    }
  j.items = p->N * p->C;
  rt_pool *pool = rt_call_pool(call);
  /* A depthwise multiply-add costs a few times a matrix product's, so weigh it up when
   * deciding whether threads pay. */
  double macs = 4.0 * (double)p->N * (double)p->M * (double)(j.oh * j.ow) * (double)(j.kh * j.kw);
  int threads = rt_gemm_threads(pool, macs);
  j.ranges = j.items < threads ? (int)j.items : threads;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)j.ranges * j.buf_bytes, (void **)&j.mem));
  rt_pool_for(pool, j.ranges, 1, dw_task, &j);
  return NULL;
}
