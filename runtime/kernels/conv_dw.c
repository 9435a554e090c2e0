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
  dw_block_fn block[9]; /* [vectors]: NULL where there is none of that width */
  int64_t owr;      /* ow rounded up to whole vectors of vw */
  int64_t ph, pw;   /* rows and width of one phase of the padded buffer */
  int flat;         /* narrow rows: positions flattened over rows, fw at a time (dw_flat) */
  dw_block_fn flat_block; /* 8 vectors */
  int64_t fw, rsh;  /* flat: positions per block; rows split by phase: sh, else 1 */
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
 * src + off[t]. Each lane computes 0 + bias, then its taps in order with MADD(acc, w, x):
 * one FMA each, explicit in the 16-float blocks (any build), in the 8-float ones where the
 * compiler contracts the multiply-add (at -O2 and up; fp-contract=fast), so the two
 * widths give the same bits in Release builds. */
#define DW_MUL_ADD(acc, wv, x) acc += wv * x
#define DW_BLOCK(NAME, VT, VW, ATTR, NB, MADD)                                             \
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
        MADD(acc[v], wv, x);                                                               \
      }                                                                                    \
    }                                                                                      \
    memcpy(out, acc, sizeof acc);                                                          \
  }
DW_BLOCK(dw_block8, dw_vec, DW_V, DW_FMA_ATTR, 8, DW_MUL_ADD)
DW_BLOCK(dw_block4, dw_vec, DW_V, DW_FMA_ATTR, 4, DW_MUL_ADD)
DW_BLOCK(dw_block1, dw_vec, DW_V, DW_FMA_ATTR, 1, DW_MUL_ADD)
/* Where the CPU has AVX-512 (as the sgemm kernel in use says): vectors of 16 floats, half
 * the loads and FMAs per output. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#include <immintrin.h>
#define DW_HAS_Z 1
typedef float dw_zvec __attribute__((vector_size(16 * sizeof(float))));
#define DW_Z_ATTR __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,fma")))
#define DW_FMA512(acc, wv, x) acc = _mm512_fmadd_ps(wv, x, acc)
DW_BLOCK(dw_zblock8, dw_zvec, 16, DW_Z_ATTR, 8, DW_FMA512)
DW_BLOCK(dw_zblock7, dw_zvec, 16, DW_Z_ATTR, 7, DW_FMA512)
DW_BLOCK(dw_zblock6, dw_zvec, 16, DW_Z_ATTR, 6, DW_FMA512)
DW_BLOCK(dw_zblock5, dw_zvec, 16, DW_Z_ATTR, 5, DW_FMA512)
DW_BLOCK(dw_zblock4, dw_zvec, 16, DW_Z_ATTR, 4, DW_FMA512)
DW_BLOCK(dw_zblock3, dw_zvec, 16, DW_Z_ATTR, 3, DW_FMA512)
DW_BLOCK(dw_zblock2, dw_zvec, 16, DW_Z_ATTR, 2, DW_FMA512)
DW_BLOCK(dw_zblock1, dw_zvec, 16, DW_Z_ATTR, 1, DW_FMA512)
#endif

static void dw_channel(const dw_job *j, const float *buf, int64_t n, int64_t oc) {
  const float *w = j->W + oc * j->kh * j->kw;
  float bias = j->B ? j->B[oc] : 0.0f;
  float *y = j->Y + (n * j->p->M + oc) * j->oh * j->ow;
  const int64_t *off = j->off, taps = j->taps;
  for (int64_t oy = 0; oy < j->oh; oy++) {
    float *yr = y + oy * j->ow;
    const float *row = buf + oy * j->sh * j->pw;
    for (int64_t ox = 0; ox < j->owr;) {
      float tmp[8 * 16];
      /* the widest block left (one vector alone waits on its FMA chain) */
      int nb = j->owr - ox >= 8 * j->vw ? 8 : (int)((j->owr - ox) / j->vw);
      while (!j->block[nb]) nb--;
      int64_t width = nb * j->vw, valid = j->ow - ox < width ? j->ow - ox : width;
      float *dst = valid == width ? yr + ox : tmp;
      j->block[nb](taps, off, row + ox, w, bias, dst);
      if (dst == tmp) memcpy(yr + ox, tmp, (size_t)valid * sizeof(float));
      ox += width;
    }
  }
}

/* Narrow rows (a 20 x 20 plane took two 16-lane vectors per row, 20 lanes of 32 used, two
 * FMA chains in flight): positions are flattened over the buffer's rows (pitch pw; its
 * rows are split by phase too, so consecutive output rows are consecutive buffer rows
 * whatever the stride) and taken 8 vectors at a time; the few positions in the padding
 * columns are computed and dropped. Each output is the same sum in the same order. */
static void dw_flat(const dw_job *j, const float *buf, int64_t n, int64_t oc) {
  const float *w = j->W + oc * j->kh * j->kw;
  float bias = j->B ? j->B[oc] : 0.0f;
  float *y = j->Y + (n * j->p->M + oc) * j->oh * j->ow;
  for (int64_t f0 = 0; f0 < j->oh * j->pw; f0 += j->fw) {
    float tmp[8 * 16];
    j->flat_block(j->taps, j->off, buf + f0, w, bias, tmp);
    for (int64_t k = 0, r = f0 / j->pw, c = f0 % j->pw; k < j->fw && r < j->oh; r++, c = 0) {
      int64_t span = j->pw - c < j->fw - k ? j->pw - c : j->fw - k;
      int64_t seg = j->ow - c < span ? j->ow - c : span;
      if (seg > 0) memcpy(y + r * j->ow + c, tmp + k, (size_t)seg * sizeof(float));
      k += span;
    }
  }
}

static void dw_task(void *vjob, int64_t r0, int64_t r1) {
  const dw_job *j = vjob;
  const conv_plan *p = j->p;
  for (int64_t r = r0; r < r1; r++) {
    float *buf = (float *)(j->mem + (size_t)r * j->buf_bytes);
    size_t filled = (size_t)(j->rsh * j->sw * j->ph * j->pw);
    memset(buf + filled, 0, j->buf_bytes - filled * sizeof(float)); /* dw_flat's junk reads */
    for (int64_t t = r * j->items / j->ranges; t < (r + 1) * j->items / j->ranges; t++) {
      int64_t n = t / p->C, c = t % p->C;
      rt_conv_fill_phases(j->X + (n * p->C + c) * p->in_sz, j->ih, j->iw, j->pt, j->pl, j->rsh,
                          j->sw, j->ph, j->pw, buf);
      for (int64_t m = 0; m < p->Mg; m++) {
        int64_t oc = c * p->Mg + m;
        if (j->flat)
          dw_flat(j, buf, n, oc);
        else
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
  j.block[8] = dw_block8;
  j.block[4] = dw_block4;
  j.block[1] = dw_block1;
  j.flat_block = dw_block8;
#ifdef DW_HAS_Z
  if (rt_sgemm_current_kernel() == RT_SGEMM_AVX512) {
    j.vw = 16;
    j.block[8] = dw_zblock8;
    j.block[7] = dw_zblock7;
    j.block[6] = dw_zblock6;
    j.block[5] = dw_zblock5;
    j.block[4] = dw_zblock4;
    j.block[3] = dw_zblock3;
    j.block[2] = dw_zblock2;
    j.block[1] = dw_zblock1;
    j.flat_block = dw_zblock8;
  }
#endif
  j.owr = (j.ow + j.vw - 1) / j.vw * j.vw;
  j.flat = j.ow < 4 * j.vw;
  j.fw = 8 * j.vw;
  j.rsh = j.flat ? j.sh : 1;
  int64_t reach = (j.kw - 1) * j.dw / j.sw; /* phase columns a row's taps reach past ox */
  j.ph = j.flat ? j.oh + (j.kh - 1) * j.dh / j.sh : (j.oh - 1) * j.sh + (j.kh - 1) * j.dh + 1;
  j.pw = (j.flat ? j.ow : j.owr) + reach;
  /* flat: the last block reads up to fw + pw floats past the phases (dropped outputs) */
  size_t slack = j.flat ? (size_t)(j.fw + j.pw) : 0;
  j.buf_bytes = rt_align64((size_t)(j.rsh * j.sw * j.ph * j.pw + slack) * sizeof(float));
  /* tap (ky, kx) of output (oy, ox) reads row phase (ky dh) % rsh and column phase
   * (kx dw) % sw, at row oy sh / rsh + (ky dh) / rsh and column ox + (kx dw) / sw */
  j.taps = j.kh * j.kw;
  for (int64_t ky = 0; ky < j.kh; ky++)
    for (int64_t kx = 0; kx < j.kw; kx++) {
      int64_t o = kx * j.dw, d = ky * j.dh;
      j.off[ky * j.kw + kx] =
          (((d % j.rsh) * j.sw + o % j.sw) * j.ph + d / j.rsh) * j.pw + o / j.sw;
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
