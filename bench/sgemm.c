/* Single-thread sgemm throughput: IVM's rt_sgemm (both register-tile kernels) against
 * OpenBLAS cblas_sgemm (one thread), next to the core's measured fp32 FMA peak.
 *
 * Usage: bench_sgemm [--reps N] [--wall]
 *
 * Every figure is the median of N samples (default 9), a sample being enough calls for
 * about 20 ms of work. Times are the thread's CPU time unless --wall: on a machine shared
 * with builds, CPU time leaves out the time the thread was not running, so the numbers
 * measure the code rather than the neighbours (wall time counts both).
 * The peak is a register-resident loop of 12 independent vfmadd231ps chains (zmm, and the
 * same on ymm): what one core's FMA units can do, no memory involved.
 * OpenBLAS is used as the environment configures it (OPENBLAS_CORETYPE included). */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/kernels/gemm.h"

#ifdef IVM_BENCH_OPENBLAS
#include <cblas.h>
#endif

static int use_wall;

static double now(void) {
  struct timespec t;
  clock_gettime(use_wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* ---- FMA peak ----------------------------------------------------------------------- */
/* 12 independent chains (enough to cover FMA latency x FMA units on current cores, and
 * with x and y they fit AVX2's 16 registers), in named variables: an array would live in
 * memory. */
#define FMA12(R)                                                                           \
  __asm__ volatile("vfmadd231ps %[x], %[y], %[r0]\n\tvfmadd231ps %[x], %[y], %[r1]\n\t"    \
                   "vfmadd231ps %[x], %[y], %[r2]\n\tvfmadd231ps %[x], %[y], %[r3]\n\t"    \
                   "vfmadd231ps %[x], %[y], %[r4]\n\tvfmadd231ps %[x], %[y], %[r5]\n\t"    \
                   "vfmadd231ps %[x], %[y], %[r6]\n\tvfmadd231ps %[x], %[y], %[r7]\n\t"    \
                   "vfmadd231ps %[x], %[y], %[r8]\n\tvfmadd231ps %[x], %[y], %[r9]\n\t"    \
                   "vfmadd231ps %[x], %[y], %[r10]\n\tvfmadd231ps %[x], %[y], %[r11]\n\t"  \
                   : [r0] "+" R(a0), [r1] "+" R(a1), [r2] "+" R(a2), [r3] "+" R(a3),        \
                     [r4] "+" R(a4), [r5] "+" R(a5), [r6] "+" R(a6), [r7] "+" R(a7),        \
                     [r8] "+" R(a8), [r9] "+" R(a9), [r10] "+" R(a10), [r11] "+" R(a11)     \
                   : [x] R(x), [y] R(y))
#define FMA_LOOP(T, R, set1, add)                                                          \
  T x = set1(0.999f), y = set1(1e-6f), a0 = set1(0), a1 = set1(1), a2 = set1(2),           \
    a3 = set1(3), a4 = set1(4), a5 = set1(5), a6 = set1(6), a7 = set1(7), a8 = set1(8),    \
    a9 = set1(9), a10 = set1(10), a11 = set1(11);                                          \
  double t = now();                                                                        \
  for (long n = 0; n < iters; n++) FMA12(R);                                               \
  t = now() - t;                                                                           \
  T sum = add(add(add(a0, a1), add(a2, a3)), add(add(a4, a5), add(a6, a7)));               \
  sum = add(sum, add(add(a8, a9), add(a10, a11)))

/* Each returns the seconds taken by iters x 12 FMAs; the sums keep the chains live. */
__attribute__((target("avx512f"))) static double fma_zmm(long iters, float *sink) {
  FMA_LOOP(__m512, "v", _mm512_set1_ps, _mm512_add_ps);
  *sink += _mm512_reduce_add_ps(sum);
  return t;
}

__attribute__((target("avx2,fma"))) static double fma_ymm(long iters, float *sink) {
  FMA_LOOP(__m256, "x", _mm256_set1_ps, _mm256_add_ps);
  float out[8];
  _mm256_storeu_ps(out, sum);
  *sink += out[0];
  return t;
}

/* Median GFLOPS over reps samples of 20M iterations (12 FMAs x lanes x 2 flops each). */
static double fma_peak(int zmm, int reps) {
  enum { ITERS = 20 * 1000 * 1000 };
  double g[64];
  float sink = 0;
  for (int r = 0; r < reps; r++) {
    double t = zmm ? fma_zmm(ITERS, &sink) : fma_ymm(ITERS, &sink);
    g[r] = (double)ITERS * 12 * (zmm ? 16 : 8) * 2 / t * 1e-9;
  }
  qsort(g, (size_t)reps, sizeof g[0], cmp_double);
  return sink == 12345.0f ? 0 : g[reps / 2]; /* sink: the chains' results are used */
}

/* ---- sgemm ------------------------------------------------------------------------------ */
typedef struct shape {
  int64_t M, N, K;
  int tb; /* B given as N x K (Gemm transB, linear layers) */
} shape;

typedef struct operands {
  const shape *s;
  float *A, *B, *C, *pack;
} operands;

static void run_ivm(const operands *o) {
  const shape *s = o->s;
  rt_sgemm(s->M, s->N, s->K, 1.0f, o->A, s->K, 1, o->B, s->tb ? 1 : s->N, s->tb ? s->K : 1, 0.0f,
           o->C, s->N, o->pack);
}

#ifdef IVM_BENCH_OPENBLAS
static void run_openblas(const operands *o) {
  const shape *s = o->s;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, s->tb ? CblasTrans : CblasNoTrans, (int)s->M,
              (int)s->N, (int)s->K, 1.0f, o->A, (int)s->K, o->B, (int)(s->tb ? s->K : s->N), 0.0f,
              o->C, (int)s->N);
}
#endif

/* Median GFLOPS of fn over reps samples, each enough calls for ~20 ms at 100 GFLOPS. */
static double time_gemm(void (*fn)(const operands *), const operands *o, int reps) {
  double flops = 2.0 * (double)o->s->M * (double)o->s->N * (double)o->s->K, g[64];
  long calls = (long)(2e9 / flops) + 1;
  fn(o); /* warm: caches, page faults, lazy initialisation */
  for (int r = 0; r < reps; r++) {
    double t = now();
    for (long c = 0; c < calls; c++) fn(o);
    g[r] = flops * (double)calls / (now() - t) * 1e-9;
  }
  qsort(g, (size_t)reps, sizeof g[0], cmp_double);
  return g[reps / 2];
}

/* Largest |x - ref| / (1 + |ref|) over the M x N result: a sanity check, not a test. */
static double max_rel_diff(const float *x, const float *ref, int64_t n) {
  double worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - (double)ref[i]) / (1.0 + fabs((double)ref[i]));
    if (d > worst) worst = d;
  }
  return worst;
}

static float *random_floats(int64_t n, unsigned *seed) {
  float *p = aligned_alloc(64, rt_align64((size_t)n * sizeof(float)));
  for (int64_t i = 0; i < n; i++) {
    *seed = *seed * 1664525u + 1013904223u;
    p[i] = (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
  }
  return p;
}

int main(int argc, char **argv) {
  int reps = 9;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--wall") == 0) use_wall = 1;
    else {
      fprintf(stderr, "usage: %s [--reps N] [--wall]\n", argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  if (reps > 64) reps = 64;

  int has512 = __builtin_cpu_supports("avx512f"), has256 = __builtin_cpu_supports("fma");
  double peak512 = has512 ? fma_peak(1, reps) : 0, peak256 = has256 ? fma_peak(0, reps) : 0;
  double peak = has512 ? peak512 : peak256;
  printf("timing: %s, median of %d samples\n", use_wall ? "wall clock" : "thread CPU time", reps);
  printf("fp32 FMA peak, one core: zmm %.1f GFLOPS, ymm %.1f GFLOPS\n", peak512, peak256);
#ifdef IVM_BENCH_OPENBLAS
  openblas_set_num_threads(1);
  const char *core = getenv("OPENBLAS_CORETYPE");
  printf("OpenBLAS %s, core %s (OPENBLAS_CORETYPE=%s), 1 thread\n", openblas_get_config(),
         openblas_get_corename(), core ? core : "(unset)");
#endif
  rt_sgemm_kernel best = rt_sgemm_use_kernel(RT_SGEMM_AVX512);
  printf("IVM kernels: %s (default), avx2\n\n", rt_sgemm_kernel_name(best));

  /* Squares, then transformer-like shapes (sequence 128, hidden 768: the projections,
   * the MLP, one attention head's Q K^T and P V) and convolutions as im2col sgemms
   * (ResNet-50's 3x3 layers at 56x56 and 14x14). */
  static const shape shapes[] = {
      {64, 64, 64, 0},       {128, 128, 128, 0},   {256, 256, 256, 0},  {384, 384, 384, 0},
      {512, 512, 512, 0},    {768, 768, 768, 0},   {1024, 1024, 1024, 0}, {128, 768, 768, 0},
      {128, 768, 768, 1},    {128, 3072, 768, 0},  {128, 768, 3072, 0}, {128, 128, 64, 1},
      {128, 64, 128, 0},     {64, 3136, 576, 0},   {256, 196, 2304, 0},
  };
  printf("%-20s %9s %9s %9s %9s %9s %8s\n", "M x N x K", "ivm", "ivm-avx2", "openblas",
         "ivm/oblas", "ivm/peak", "maxdiff");
  unsigned seed = 12345;
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    const shape *s = &shapes[i];
    operands o = {s, random_floats(s->M * s->K, &seed), random_floats(s->K * s->N, &seed),
                  random_floats(s->M * s->N, &seed), NULL};
    o.pack = aligned_alloc(64, rt_align64(rt_sgemm_pack_bytes(s->M, s->N, s->K)));
    float *ref = random_floats(s->M * s->N, &seed);

    rt_sgemm_use_kernel(RT_SGEMM_AVX2);
    double g_avx2 = time_gemm(run_ivm, &o, reps);
    rt_sgemm_use_kernel(best);
    double g_ivm = time_gemm(run_ivm, &o, reps);
    double g_ob = 0, diff = 0;
#ifdef IVM_BENCH_OPENBLAS
    memcpy(ref, o.C, sizeof(float) * (size_t)(s->M * s->N));
    g_ob = time_gemm(run_openblas, &o, reps);
    diff = max_rel_diff(ref, o.C, s->M * s->N);
#endif
    char name[64];
    snprintf(name, sizeof name, "%lldx%lldx%lld%s", (long long)s->M, (long long)s->N,
             (long long)s->K, s->tb ? " (B^T)" : "");
    printf("%-20s %9.1f %9.1f %9.1f %9.2f %9.2f %8.1e\n", name, g_ivm, g_avx2, g_ob,
           g_ob > 0 ? g_ivm / g_ob : 0.0, peak > 0 ? g_ivm / peak : 0.0, diff);
    fflush(stdout);
    free(o.A);
    free(o.B);
    free(o.C);
    free(o.pack);
    free(ref);
  }
  return 0;
}
