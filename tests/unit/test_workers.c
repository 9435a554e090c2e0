/* The worker pool (runtime/pool.h) and the kernels that split their work across it.
 *
 * The pool: every index of [0, n) is visited exactly once whatever n, grain and thread
 * count; nested calls run inline; thousands of back-to-back jobs and create/destroy loops
 * stay correct; workers really run at the same time as the caller; the caller's ranges
 * are a prefix and the helpers' the rest.
 *
 * The kernels: run through an rt_call whose scratch carries a pool of 1, 2 and 4 threads,
 * every output must be bitwise the same as without a pool (the split never changes any
 * element's order of summation), and close to a straightforward reference written here.
 * The shapes are chosen above the kernels' cost thresholds so the parallel paths run.
 *
 * Whole models: the same outputs through the public API with ivm_session_options.threads
 * 1, 2 and 4. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "isa/module.h"
#include "ivm/ivm.h"
#include "kernel_test_util.h"
#include "runtime/kernels/gemm_par.h"
#include "runtime/pool.h"

/* ---- the pool ----------------------------------------------------------------------- */
typedef struct visit_ctx {
  _Atomic int *seen;
  int64_t n, grain;
  _Atomic int bad_range;
} visit_ctx;

static void visit(void *vctx, int64_t begin, int64_t end) {
  visit_ctx *c = vctx;
  if (begin < 0 || end > c->n || begin >= end) atomic_store(&c->bad_range, 1);
  for (int64_t i = begin; i < end && i < c->n && i >= 0; i++) atomic_fetch_add(&c->seen[i], 1);
}

static void visit_all(rt_pool *pool, int64_t n, int64_t grain) {
  visit_ctx c = {calloc((size_t)(n ? n : 1), sizeof(_Atomic int)), n, grain, 0};
  rt_pool_for(pool, n, grain, visit, &c);
  cr_assert_eq(atomic_load(&c.bad_range), 0, "a range outside [0, %lld) or empty", (long long)n);
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(atomic_load(&c.seen[i]), 1, "threads %d n %lld grain %lld: index %lld seen %d times",
                 rt_pool_threads(pool), (long long)n, (long long)grain, (long long)i,
                 atomic_load(&c.seen[i]));
  free(c.seen);
}

Test(workers, every_index_once_for_any_n_grain_and_threads) {
  const int threads[] = {1, 2, 3, 4, 8};
  const int64_t ns[] = {0, 1, 2, 3, 7, 64, 100, 1000, 4097};
  const int64_t grains[] = {0, 1, 3, 64, 1000, 5000};
  for (size_t t = 0; t < sizeof threads / sizeof *threads; t++) {
    rt_pool *pool;
    ok(rt_pool_create(threads[t], &pool));
    cr_assert_eq(rt_pool_threads(pool), threads[t]);
    for (size_t a = 0; a < sizeof ns / sizeof *ns; a++)
      for (size_t b = 0; b < sizeof grains / sizeof *grains; b++) visit_all(pool, ns[a], grains[b]);
    rt_pool_destroy(pool);
  }
  visit_all(NULL, 1000, 7); /* no pool: inline */
}

Test(workers, thread_counts_and_bad_arguments) {
  rt_pool *pool;
  ok(rt_pool_create(0, &pool));
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  cr_assert_eq(rt_pool_threads(pool), online < 1 ? 1 : (int)online, "0 means one per core");
  rt_pool_destroy(pool);
  cr_assert_eq(rt_pool_threads(NULL), 1);
  rt_pool_destroy(NULL);
  fails(rt_pool_create(-1, &pool), IVM_ERR_INVALID_ARGUMENT);
  cr_assert_null(pool);
  fails(rt_pool_create(100000, &pool), IVM_ERR_INVALID_ARGUMENT);
}

/* A nested call from inside a task runs inline on the task's thread, covering its range. */
typedef struct nest_ctx {
  rt_pool *pool;
  _Atomic int *seen;
  _Atomic int wrong_thread;
} nest_ctx;

typedef struct inner_ctx {
  nest_ctx *outer;
  int64_t base;
  pthread_t self;
} inner_ctx;

static void nest_inner(void *vctx, int64_t begin, int64_t end) {
  inner_ctx *c = vctx;
  if (!pthread_equal(pthread_self(), c->self)) atomic_store(&c->outer->wrong_thread, 1);
  for (int64_t i = begin; i < end; i++) atomic_fetch_add(&c->outer->seen[c->base + i], 1);
}

static void nest_outer(void *vctx, int64_t begin, int64_t end) {
  nest_ctx *c = vctx;
  for (int64_t i = begin; i < end; i++) {
    inner_ctx in = {c, i * 50, pthread_self()};
    rt_pool_for(c->pool, 50, 1, nest_inner, &in);
  }
}

Test(workers, nested_calls_run_inline) {
  rt_pool *pool;
  ok(rt_pool_create(4, &pool));
  nest_ctx c = {pool, calloc(40 * 50, sizeof(_Atomic int)), 0};
  rt_pool_for(pool, 40, 1, nest_outer, &c);
  cr_assert_eq(atomic_load(&c.wrong_thread), 0, "a nested range ran on another thread");
  for (int i = 0; i < 40 * 50; i++) cr_assert_eq(atomic_load(&c.seen[i]), 1, "index %d", i);
  free(c.seen);
  rt_pool_destroy(pool);
}

typedef struct sum_ctx {
  _Atomic int64_t sum;
} sum_ctx;

static void add_indices(void *vctx, int64_t begin, int64_t end) {
  sum_ctx *c = vctx;
  int64_t s = 0;
  for (int64_t i = begin; i < end; i++) s += i + 1;
  atomic_fetch_add(&c->sum, s);
}

Test(workers, thousands_of_back_to_back_jobs) {
  for (int threads = 2; threads <= 4; threads += 2) {
    rt_pool *pool;
    ok(rt_pool_create(threads, &pool));
    for (int k = 0; k < 5000; k++) {
      int64_t n = 1 + k % 13;
      sum_ctx c = {0};
      rt_pool_for(pool, n, 1, add_indices, &c);
      cr_assert_eq(atomic_load(&c.sum), n * (n + 1) / 2, "job %d", k);
    }
    rt_pool_destroy(pool);
  }
}

Test(workers, create_and_destroy_loops) {
  for (int k = 0; k < 200; k++) {
    rt_pool *pool;
    ok(rt_pool_create(1 + k % 4, &pool));
    if (k % 2) { /* half never run a job: their workers are never started */
      sum_ctx c = {0};
      rt_pool_for(pool, 100, 10, add_indices, &c);
      cr_assert_eq(atomic_load(&c.sum), 5050);
    }
    rt_pool_destroy(pool);
  }
}

/* Two ranges that each wait until both have started: only finishes if a worker runs one
 * of them while the caller runs the other. */
typedef struct meet_ctx {
  _Atomic int arrived;
  _Atomic int met;
} meet_ctx;

static void meet(void *vctx, int64_t begin, int64_t end) {
  meet_ctx *c = vctx;
  for (int64_t i = begin; i < end; i++) {
    atomic_fetch_add(&c->arrived, 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
      if (atomic_load(&c->arrived) >= 2) {
        atomic_fetch_add(&c->met, 1);
        return;
      }
      clock_gettime(CLOCK_MONOTONIC, &t);
    } while (t.tv_sec - t0.tv_sec < 20);
  }
}

Test(workers, workers_run_alongside_the_caller) {
  rt_pool *pool;
  ok(rt_pool_create(2, &pool));
  for (int k = 0; k < 20; k++) {
    meet_ctx c = {0, 0};
    rt_pool_for(pool, 2, 1, meet, &c);
    cr_assert_eq(atomic_load(&c.met), 2, "round %d: the two ranges never ran together", k);
  }
  rt_pool_destroy(pool);
}

/* Ranges are claimed from both ends: the caller's share is a prefix of [0, n) and the
 * helpers' the rest, whoever is faster, so a split keeps each thread on contiguous data
 * (the rows it wrote in the previous instruction). Each range busy-waits a little so that
 * the worker joins; the structure must hold whether or not it does. */
typedef struct owner_ctx {
  pthread_t caller;
  _Atomic int by_caller[64], runs[64];
} owner_ctx;

static void note_owner(void *vctx, int64_t begin, int64_t end) {
  owner_ctx *c = vctx;
  for (int64_t i = begin; i < end; i++) {
    atomic_store(&c->by_caller[i], pthread_equal(pthread_self(), c->caller) ? 1 : 0);
    atomic_fetch_add(&c->runs[i], 1);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do clock_gettime(CLOCK_MONOTONIC, &t);
    while ((t.tv_sec - t0.tv_sec) * 1000000000L + (t.tv_nsec - t0.tv_nsec) < 20000);
  }
}

Test(workers, the_callers_share_is_a_prefix_and_the_helpers_the_rest) {
  for (int threads = 2; threads <= 3; threads++) {
    rt_pool *pool;
    ok(rt_pool_create(threads, &pool));
    int helped = 0;
    for (int k = 0; k < 20; k++) {
      owner_ctx *c = calloc(1, sizeof *c);
      cr_assert(c);
      c->caller = pthread_self();
      rt_pool_for(pool, 64, 1, note_owner, c);
      int64_t prefix = 0;
      while (prefix < 64 && atomic_load(&c->by_caller[prefix])) prefix++;
      for (int64_t i = 0; i < 64; i++) {
        cr_assert_eq(atomic_load(&c->runs[i]), 1, "range %lld ran %d times", (long long)i,
                     atomic_load(&c->runs[i]));
        cr_assert(i < prefix || !atomic_load(&c->by_caller[i]),
                  "%d threads, round %d: the caller ran ranges 0..%lld and then %lld", threads,
                  k, (long long)prefix - 1, (long long)i);
      }
      helped += prefix < 64;
      free(c);
    }
    cr_assert(helped > 0, "%d threads: no worker ever took a range", threads);
    rt_pool_destroy(pool);
  }
}

/* ---- the sgemm split plan ---------------------------------------------------------------- */
Test(workers, gemm_split_panels_tile_the_output) {
  const int64_t shapes[][4] = {{1, 200, 500, 300}, {3, 96, 200, 256}, {1, 2000, 8, 256},
                               {1, 1, 4096, 1024}, {5, 37, 1000, 77}, {64, 8, 8, 8}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
    for (int threads = 1; threads <= 8; threads++) {
      const int64_t *sh = shapes[s];
      rt_gemm_split sp;
      rt_gemm_split_plan(threads, sh[0], sh[1], sh[2], sh[3], &sp);
      cr_assert(sp.ranges >= 1 && sp.ranges <= threads);
      cr_assert_eq(sp.items, sh[0] * sp.panels);
      cr_assert_leq(sp.ranges, sp.items);
      int64_t covered = 0;
      for (int64_t p = 0; p < sp.panels; p++) {
        int64_t i0, m, j0, n;
        rt_gemm_panel(&sp, p, &i0, &m, &j0, &n);
        cr_assert(m > 0 && n > 0, "shape %zu threads %d: empty panel %lld", s, threads,
                  (long long)p);
        /* panels follow each other without gap or overlap */
        if (sp.by_rows) cr_assert(i0 == covered && j0 == 0 && n == sh[2]);
        else cr_assert(j0 == covered && i0 == 0 && m == sh[1]);
        covered += sp.by_rows ? m : n;
        cr_assert_geq(rt_gemm_split_pack_bytes(&sp), rt_sgemm_pack_bytes(m, n, sh[3]));
      }
      cr_assert_eq(covered, sp.by_rows ? sh[1] : sh[2]);
    }
  /* A product big enough for 4 threads is split for 4. */
  rt_gemm_split sp;
  rt_gemm_split_plan(4, 1, 200, 500, 300, &sp);
  cr_assert_eq(sp.ranges, 4);
  rt_gemm_split_plan(2, 3, 96, 200, 256, &sp);
  cr_assert_eq(sp.items % sp.ranges, 0, "3 products over 2 threads: equal shares");
}

/* ---- kernels under pools of 1, 2 and 4 threads ------------------------------------------- */
static float frand(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static float *fill(int64_t n, uint32_t seed) {
  float *p = malloc((size_t)n * sizeof *p);
  for (int64_t i = 0; i < n; i++) p[i] = frand(&seed);
  return p;
}

/* Runs op on in[] once without a pool (rt_run_builtin: inference, then the kernel) and
 * then through an rt_call with pools of 1, 2 and 4 threads; every pooled output must be
 * bitwise the serial one. Returns the serial output (free its data). */
static rt_tensor run_pooled(isa_builtin_op op, uint32_t n_in, const rt_tensor *in,
                            const isa_attr *attrs) {
  const rt_tensor *inp[8];
  cr_assert_leq(n_in, 8);
  for (uint32_t k = 0; k < n_in; k++) inp[k] = &in[k];
  isa_attr def[16];
  if (!attrs) attrs = defaults(op, def);
  rt_tensor ref;
  memset(&ref, 0, sizeof ref);
  ok(rt_run_builtin(op, n_in, inp, attrs, 1, &ref));
  size_t bytes = rt_nbytes(&ref);
  const int threads[] = {1, 2, 4};
  for (size_t t = 0; t < 3; t++) {
    rt_pool *pool;
    ok(rt_pool_create(threads[t], &pool));
    rt_tensor out = ref;
    out.data = malloc(bytes ? bytes : 1);
    memset(out.data, 0xff, bytes); /* NaN / garbage where a kernel forgets to write */
    rt_tensor *outp[1] = {&out};
    rt_scratch scratch = {NULL, NULL, 0, pool};
    rt_call call = {n_in, 1, inp, outp, attrs, &scratch, NULL};
    for (int rep = 0; rep < 2; rep++) { /* twice: the second reuses the grown scratch */
      ok(rt_builtin_kernel(op)(&call));
      cr_assert(memcmp(out.data, ref.data, bytes) == 0,
                "%s with %d threads differs from the single-threaded result",
                isa_builtin_desc(op)->name, threads[t]);
    }
    rt_scratch_release(&scratch);
    rt_pool_destroy(pool);
    free(out.data);
  }
  return ref;
}

static void close_to(const float *got, const double *want, int64_t n, double tol,
                     const char *what) {
  for (int64_t i = 0; i < n; i++)
    cr_assert(fabs(got[i] - want[i]) <= tol * (1 + fabs(want[i])), "%s[%lld] = %.9g, expected %.9g",
              what, (long long)i, got[i], want[i]);
}

/* A (..., M, K) @ B (..., K, N) with numpy broadcasting of the batch dims, rank 3 or 4. */
static void check_matmul(int ra, const int64_t *da, int rb, const int64_t *db) {
  rt_tensor in[2] = {mk(IVM_DT_F32, ra, da, fill(rt_shape_numel(ra, da), 1)),
                     mk(IVM_DT_F32, rb, db, fill(rt_shape_numel(rb, db), 2))};
  rt_tensor y = run_pooled(ISA_OP_MatMul, 2, in, NULL);
  int64_t M = da[ra - 2], K = da[ra - 1], N = db[rb - 1];
  int ry = y.rank, nb = ry - 2;
  int64_t batch = rt_numel(&y) / (M * N);
  double *want = malloc((size_t)rt_numel(&y) * sizeof *want);
  const float *A = in[0].data, *B = in[1].data;
  for (int64_t t = 0; t < batch; t++) {
    /* batch index -> operand matrix index, broadcasting size-1 dims */
    int64_t rem = t, ia = 0, ib = 0, sa = 1, sb = 1;
    for (int d = nb - 1; d >= 0; d--) {
      int64_t idx = rem % y.dims[d];
      rem /= y.dims[d];
      int ja = d - (nb - (ra - 2)), jb = d - (nb - (rb - 2));
      int64_t dA = ja >= 0 ? da[ja] : 1, dB = jb >= 0 ? db[jb] : 1;
      ia += (dA == 1 ? 0 : idx) * sa;
      ib += (dB == 1 ? 0 : idx) * sb;
      sa *= dA;
      sb *= dB;
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (double)A[ia * M * K + i * K + k] * B[ib * K * N + k * N + j];
        want[t * M * N + i * N + j] = s;
      }
  }
  close_to(y.data, want, rt_numel(&y), 1e-4, "MatMul");
  free(want);
  free(y.data);
  free(in[0].data);
  free(in[1].data);
}

/* Gemm with transB (weights as Linear layers store them): few rows or few columns take
 * dot products, split from a few microseconds of streaming; the same bits on any thread
 * count, and close to a double-precision sum. */
static void check_gemm_dots(int64_t M, int64_t N, int64_t K) {
  rt_tensor in[3] = {mk(IVM_DT_F32, 2, D(M, K), fill(M * K, 3)),
                     mk(IVM_DT_F32, 2, D(N, K), fill(N * K, 4)),
                     mk(IVM_DT_F32, 1, D(N), fill(N, 5))};
  isa_attr def[16];
  isa_attr *at = defaults(ISA_OP_Gemm, def);
  at[ISA_A_Gemm_transB].v.i = 1;
  rt_tensor y = run_pooled(ISA_OP_Gemm, 3, in, at);
  double *want = malloc((size_t)(M * N) * sizeof *want);
  const float *A = in[0].data, *B = in[1].data, *C = in[2].data;
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double s = C[j];
      for (int64_t k = 0; k < K; k++) s += (double)A[i * K + k] * B[j * K + k];
      want[i * N + j] = s;
    }
  close_to(y.data, want, M * N, 1e-4, "Gemm");
  free(want);
  free(y.data);
  for (int k = 0; k < 3; k++) free(in[k].data);
}

Test(workers, gemm_dot_products_are_bitwise_identical_across_threads) {
  cr_assert((rt_sgemm_takes_dots(1, 128, 1, 1) && rt_sgemm_takes_dots(600, 8, 1, 1)) ||
            rt_sgemm_current_kernel() != RT_SGEMM_AVX512);
  check_gemm_dots(1, 128, 1536); /* hey_jarvis' first layer: column panels */
  check_gemm_dots(3, 700, 999);  /* a few rows, odd sizes */
  check_gemm_dots(600, 8, 512);  /* few columns: row panels */
}

Test(workers, matmul_is_bitwise_identical_across_threads) {
  check_matmul(3, D(1, 200, 300), 2, D(300, 500));    /* one tall product, column panels */
  check_matmul(3, D(3, 96, 256), 3, D(3, 256, 200));  /* 3 products over 2 or 4 threads */
  check_matmul(4, D(2, 1, 64, 256), 3, D(3, 256, 160)); /* broadcast batch dims */
  check_matmul(2, D(2000, 256), 2, D(256, 8));         /* tall and narrow: row panels */
  check_matmul(2, D(1, 1024), 2, D(1024, 2048));       /* a vector times a matrix */
  check_matmul(3, D(5, 37, 777), 2, D(777, 1000));     /* odd sizes */
  check_matmul(3, D(16, 64, 64), 3, D(16, 64, 64));    /* many small products */
}

Test(workers, matmul_f64_rows_split) {
  int64_t M = 64, K = 300, N = 200;
  double *a = malloc((size_t)(M * K) * sizeof *a), *b = malloc((size_t)(K * N) * sizeof *b);
  uint32_t s = 5;
  for (int64_t i = 0; i < M * K; i++) a[i] = frand(&s);
  for (int64_t i = 0; i < K * N; i++) b[i] = frand(&s);
  rt_tensor in[2] = {mk(IVM_DT_F64, 2, D(64, 300), a), mk(IVM_DT_F64, 2, D(300, 200), b)};
  rt_tensor y = run_pooled(ISA_OP_MatMul, 2, in, NULL);
  const double *g = y.data;
  for (int64_t i = 0; i < M; i += 7)
    for (int64_t j = 0; j < N; j += 3) {
      double w = 0;
      for (int64_t k = 0; k < K; k++) w += a[i * K + k] * b[k * N + j];
      cr_assert(fabs(g[i * N + j] - w) <= 1e-12 * (1 + fabs(w)));
    }
  free(y.data);
  free(a);
  free(b);
}

/* Conv 2-D (or 1-D when h == 0) against direct loops in double. */
typedef struct conv_case {
  int64_t n, c, h, w, m, kh, kw, group, stride, pad, dilation;
  int bias;
} conv_case;

static void check_conv(conv_case cc) {
  int one_d = cc.h == 0;
  int64_t h = one_d ? 1 : cc.h, kh = one_d ? 1 : cc.kh;
  int64_t cg = cc.c / cc.group, mg = cc.m / cc.group;
  rt_tensor in[3];
  if (one_d) {
    in[0] = mk(IVM_DT_F32, 3, D(cc.n, cc.c, cc.w), NULL);
    in[1] = mk(IVM_DT_F32, 3, D(cc.m, cg, cc.kw), NULL);
  } else {
    in[0] = mk(IVM_DT_F32, 4, D(cc.n, cc.c, cc.h, cc.w), NULL);
    in[1] = mk(IVM_DT_F32, 4, D(cc.m, cg, cc.kh, cc.kw), NULL);
  }
  in[0].data = fill(rt_numel(&in[0]), 3);
  in[1].data = fill(rt_numel(&in[1]), 4);
  in[2] = mk(IVM_DT_F32, 1, D(cc.m), cc.bias ? fill(cc.m, 5) : NULL);
  isa_attr at[16];
  defaults(ISA_OP_Conv, at);
  int sp = one_d ? 1 : 2;
  int64_t strides[2] = {cc.stride, cc.stride}, dil[2] = {cc.dilation, cc.dilation};
  int64_t pads[4] = {cc.pad, cc.pad, cc.pad, cc.pad};
  set_ints(&at[ISA_A_Conv_strides], strides, (uint32_t)sp);
  set_ints(&at[ISA_A_Conv_dilations], dil, (uint32_t)sp);
  set_ints(&at[ISA_A_Conv_pads], pads, (uint32_t)(2 * sp));
  set_int(&at[ISA_A_Conv_group], cc.group);
  rt_tensor y = run_pooled(ISA_OP_Conv, cc.bias ? 3 : 2, in, at);
  int64_t oh = one_d ? 1 : y.dims[2], ow = y.dims[y.rank - 1];
  int64_t ph = one_d ? 0 : cc.pad, dh = one_d ? 1 : cc.dilation, sh = one_d ? 1 : cc.stride;
  const float *X = in[0].data, *W = in[1].data, *Bv = in[2].data;
  double *want = malloc((size_t)rt_numel(&y) * sizeof *want);
  for (int64_t n = 0; n < cc.n; n++)
    for (int64_t m = 0; m < cc.m; m++) {
      int64_t g = m / mg;
      for (int64_t oy = 0; oy < oh; oy++)
        for (int64_t ox = 0; ox < ow; ox++) {
          double s = cc.bias ? Bv[m] : 0.0;
          for (int64_t c = 0; c < cg; c++)
            for (int64_t ky = 0; ky < kh; ky++)
              for (int64_t kx = 0; kx < cc.kw; kx++) {
                int64_t iy = oy * sh + ky * dh - ph, ix = ox * cc.stride + kx * cc.dilation - cc.pad;
                if (iy < 0 || iy >= h || ix < 0 || ix >= cc.w) continue;
                s += (double)X[((n * cc.c + g * cg + c) * h + iy) * cc.w + ix] *
                     W[((m * cg + c) * kh + ky) * cc.kw + kx];
              }
          want[((n * cc.m + m) * oh + oy) * ow + ox] = s;
        }
    }
  close_to(y.data, want, rt_numel(&y), 1e-4, "Conv");
  free(want);
  free(y.data);
  for (int k = 0; k < 3; k++) free(in[k].data);
}

Test(workers, conv_is_bitwise_identical_across_threads) {
  /* n c h w m kh kw group stride pad dilation bias */
  check_conv((conv_case){1, 16, 56, 56, 32, 3, 3, 1, 1, 1, 1, 1});  /* one pair: panels */
  check_conv((conv_case){1, 32, 56, 56, 64, 3, 3, 4, 1, 1, 1, 0});  /* grouped */
  check_conv((conv_case){2, 64, 112, 112, 64, 3, 3, 64, 2, 1, 1, 1}); /* depthwise, strided */
  check_conv((conv_case){3, 64, 20, 20, 96, 1, 1, 1, 1, 0, 1, 1});  /* pointwise, batch 3 */
  check_conv((conv_case){1, 256, 7, 7, 512, 3, 3, 1, 1, 1, 1, 1});  /* wide M: row panels */
  check_conv((conv_case){1, 8, 0, 5000, 16, 0, 5, 1, 1, 2, 2, 1});  /* 1-D, dilated */
  check_conv((conv_case){1, 3, 97, 83, 24, 5, 5, 1, 2, 2, 1, 1});   /* 3 channels, odd */
}

Test(workers, elementwise_is_bitwise_identical_across_threads) {
  int64_t n = 3 * 300 * 200;
  rt_tensor a = mk(IVM_DT_F32, 3, D(3, 300, 200), fill(n, 6));
  rt_tensor b = mk(IVM_DT_F32, 2, D(300, 1), fill(300, 7));
  rt_tensor in[2] = {a, b};
  rt_tensor y = run_pooled(ISA_OP_Add, 2, in, NULL); /* broadcast along rows */
  const float *A = a.data, *B = b.data, *Y = y.data;
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(Y[i], A[i] + B[(i / 200) % 300], "Add[%lld]", (long long)i);
  free(y.data);
  rt_tensor in2[2] = {mk(IVM_DT_F32, 2, D(300, 1), b.data), a}; /* other side, other shape */
  free(run_pooled(ISA_OP_Sub, 2, in2, NULL).data);
  rt_tensor row = mk(IVM_DT_F32, 1, D(200), fill(200, 8));
  rt_tensor in3[2] = {a, row};
  free(run_pooled(ISA_OP_Mul, 2, in3, NULL).data);
  for (int k = 1; k <= 3; k++) { /* Pow by a scalar 1, 2, 3: the vector loops */
    float e = (float)k;
    rt_tensor pw_in[2] = {a, mk(IVM_DT_F32, 0, NULL, &e)};
    y = run_pooled(ISA_OP_Pow, 2, pw_in, NULL);
    Y = y.data;
    for (int64_t i = 0; i < n; i += 89)
      cr_assert(fabsf(Y[i] - powf(A[i], e)) <= 1e-6f, "Pow %d [%lld]", k, (long long)i);
    free(y.data);
  }
  y = run_pooled(ISA_OP_Tanh, 1, &a, NULL);
  Y = y.data;
  for (int64_t i = 0; i < n; i += 97) cr_assert(fabsf(Y[i] - tanhf(A[i])) <= 1e-6f);
  free(y.data);
  free(run_pooled(ISA_OP_Exp, 1, &a, NULL).data);
  free(run_pooled(ISA_OP_Sigmoid, 1, &a, NULL).data);
  free(run_pooled(ISA_OP_Sin, 1, &a, NULL).data);
  rt_tensor clip_in[3] = {a, mk(IVM_DT_F32, 0, NULL, (float[]){-0.5f}),
                          mk(IVM_DT_F32, 0, NULL, (float[]){0.25f})};
  y = run_pooled(ISA_OP_Clip, 3, clip_in, NULL);
  Y = y.data;
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(Y[i], A[i] < -0.5f ? -0.5f : A[i] > 0.25f ? 0.25f : A[i]);
  free(y.data);
  free(row.data);
  free(a.data);
  free(b.data);
}

Test(workers, row_ops_are_bitwise_identical_across_threads) {
  rt_tensor x = mk(IVM_DT_F32, 2, D(512, 768), fill(512 * 768, 9));
  isa_attr at[16];
  rt_tensor y = run_pooled(ISA_OP_Softmax, 1, &x, NULL); /* rows */
  const float *X = x.data, *Y = y.data;
  for (int64_t r = 0; r < 512; r += 37) {
    double mx = -INFINITY, s = 0;
    for (int j = 0; j < 768; j++) mx = fmax(mx, X[r * 768 + j]);
    for (int j = 0; j < 768; j++) s += exp(X[r * 768 + j] - mx);
    for (int j = 0; j < 768; j++) {
      double w = exp(X[r * 768 + j] - mx) / s;
      cr_assert(fabs(Y[r * 768 + j] - w) <= 1e-6 + 1e-5 * w, "Softmax[%lld][%d]", (long long)r, j);
    }
  }
  free(y.data);
  /* across channels: inner > 1, outer 1 and 2 */
  for (int64_t nb = 1; nb <= 2; nb++) {
    rt_tensor c = mk(IVM_DT_F32, 4, D(nb, 64, 40, 40), fill(nb * 64 * 1600, 10));
    defaults(ISA_OP_Softmax, at);
    set_int(&at[ISA_A_Softmax_axis], 1);
    free(run_pooled(ISA_OP_Softmax, 1, &c, at).data);
    defaults(ISA_OP_LogSoftmax, at);
    set_int(&at[ISA_A_LogSoftmax_axis], 1);
    free(run_pooled(ISA_OP_LogSoftmax, 1, &c, at).data);
    free(c.data);
  }
  rt_tensor ln_in[3] = {x, mk(IVM_DT_F32, 1, D(768), fill(768, 11)),
                        mk(IVM_DT_F32, 1, D(768), fill(768, 12))};
  free(run_pooled(ISA_OP_LayerNormalization, 3, ln_in, NULL).data);
  rt_tensor bn_in[5] = {mk(IVM_DT_F32, 4, D(2, 32, 64, 64), fill(2 * 32 * 4096, 13)),
                        mk(IVM_DT_F32, 1, D(32), fill(32, 14)), mk(IVM_DT_F32, 1, D(32), fill(32, 15)),
                        mk(IVM_DT_F32, 1, D(32), fill(32, 16)), mk(IVM_DT_F32, 1, D(32), NULL)};
  float var[32];
  for (int k = 0; k < 32; k++) var[k] = 0.5f + (float)k / 32;
  bn_in[4].data = var;
  free(run_pooled(ISA_OP_BatchNormalization, 5, bn_in, NULL).data);
  for (int k = 0; k < 4; k++) free(bn_in[k].data);
  free(ln_in[1].data);
  free(ln_in[2].data);
  free(x.data);
}

/* GlobalAveragePool: planes split across the pool (many small planes, few large ones). */
Test(workers, global_average_pool_is_bitwise_identical_across_threads) {
  const int64_t shapes[][4] = {{2, 96, 20, 20}, {1, 6, 160, 160}, {1, 3, 1, 5}};
  for (size_t s = 0; s < 3; s++) {
    const int64_t *d = shapes[s];
    int64_t planes = d[0] * d[1], sz = d[2] * d[3];
    rt_tensor x = mk(IVM_DT_F32, 4, d, fill(planes * sz, 18 + (uint32_t)s));
    rt_tensor y = run_pooled(ISA_OP_GlobalAveragePool, 1, &x, NULL);
    const float *X = x.data, *Y = y.data;
    for (int64_t p = 0; p < planes; p++) {
      double m = 0;
      for (int64_t i = 0; i < sz; i++) m += X[p * sz + i];
      m /= (double)sz;
      cr_assert(fabs(Y[p] - m) <= 1e-6 * (1 + fabs(m)), "shape %zu plane %lld", s, (long long)p);
    }
    free(y.data);
    free(x.data);
  }
}

/* AveragePool 2-D (ppocr_v4_rec's 3 x 2 window, stride 3 x 2): planes split across the pool. */
Test(workers, average_pool_2d_is_bitwise_identical_across_threads) {
  int64_t C = 96, H = 3, W = 80;
  rt_tensor x = mk(IVM_DT_F32, 4, D(1, C, H, W), fill(C * H * W, 21));
  isa_attr at[16];
  defaults(ISA_OP_AveragePool, at);
  set_ints(&at[ISA_A_AveragePool_kernel_shape], D(3, 2), 2);
  set_ints(&at[ISA_A_AveragePool_strides], D(3, 2), 2);
  rt_tensor y = run_pooled(ISA_OP_AveragePool, 1, &x, at);
  const float *X = x.data, *Y = y.data;
  for (int64_t c = 0; c < C; c++)
    for (int64_t ow = 0; ow < W / 2; ow++) {
      double s = 0;
      for (int64_t kh = 0; kh < 3; kh++)
        for (int64_t kw = 0; kw < 2; kw++) s += X[(c * H + kh) * W + 2 * ow + kw];
      cr_assert(fabs(Y[c * (W / 2) + ow] - s / 6) <= 1e-6, "c %lld ow %lld", (long long)c,
                (long long)ow);
    }
  free(y.data);
  free(x.data);
}

/* ReduceSum over the last axis, the first axis and a middle one (each a different split). */
Test(workers, reductions_are_bitwise_identical_across_threads) {
  int64_t d0 = 24, d1 = 80, d2 = 300;
  rt_tensor x = mk(IVM_DT_F32, 3, D(24, 80, 300), fill(d0 * d1 * d2, 17));
  const float *X = x.data;
  for (int64_t axis = 0; axis < 3; axis++) {
    rt_tensor in[2] = {x, mk(IVM_DT_I64, 1, D(1), (int64_t[]){axis})};
    rt_tensor y = run_pooled(ISA_OP_ReduceSum, 2, in, NULL);
    const float *Y = y.data;
    int64_t dims[3] = {d0, d1, d2};
    for (int64_t i = 0; i < d0; i += 5)
      for (int64_t j = 0; j < d1; j += 7)
        for (int64_t k = 0; k < d2; k += 11) {
          int64_t idx[3] = {i, j, k}, out = 0;
          double s = 0;
          for (int64_t r = 0; r < dims[axis]; r++) {
            idx[axis] = r;
            s += X[(idx[0] * d1 + idx[1]) * d2 + idx[2]];
          }
          idx[axis] = 0;
          for (int d = 0; d < 3; d++) out = out * (d == axis ? 1 : dims[d]) + idx[d];
          cr_assert(fabs(Y[out] - s) <= 1e-4 * (1 + fabs(s)), "axis %lld", (long long)axis);
        }
    free(y.data);
  }
  rt_tensor in[2] = {x, mk(IVM_DT_I64, 1, D(2), (int64_t[]){0, 2})};
  free(run_pooled(ISA_OP_ReduceMax, 2, in, NULL).data);
  free(x.data);
}

/* ---- whole models through the public API --------------------------------------------- */
static void *run_session(ivm_module *m, int threads, uint32_t n_in, const ivm_tensor_view *in,
                         size_t *out_bytes) {
  ivm_session_options so;
  memset(&so, 0, sizeof so);
  so.threads = threads;
  ivm_session *s;
  ok(ivm_session_create(m, &so, &s));
  void *copy = NULL;
  for (int rep = 0; rep < 2; rep++) {
    for (uint32_t i = 0; i < n_in; i++)
      ok(ivm_session_bind_input(s, i, in[i].dtype, in[i].rank, in[i].dims, in[i].data,
                                in[i].nbytes));
    ok(ivm_session_run(s));
    ivm_tensor_view v;
    ok(ivm_session_output(s, 0, &v));
    if (!copy) {
      copy = malloc(v.nbytes);
      memcpy(copy, v.data, v.nbytes);
      *out_bytes = v.nbytes;
    } else {
      cr_assert(v.nbytes == *out_bytes && memcmp(copy, v.data, v.nbytes) == 0,
                "a second run gave another result");
    }
  }
  ivm_session_destroy(s);
  return copy;
}

static void same_across_threads(ivm_module *m, uint32_t n_in, const ivm_tensor_view *in,
                                const char *what) {
  size_t n1, n;
  void *one = run_session(m, 1, n_in, in, &n1);
  for (int threads = 2; threads <= 4; threads += 2) {
    void *many = run_session(m, threads, n_in, in, &n);
    cr_assert(n == n1 && memcmp(one, many, n) == 0, "%s: threads %d differs from threads 1",
              what, threads);
    free(many);
  }
  free(one);
}

Test(workers, example_cnn_same_output_for_1_2_4_threads) {
  void *bytes;
  size_t size;
  ok(ivm_compile_onnx_file(IVM_EXAMPLES "/cnn/model.onnx", &bytes, &size, NULL));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  ivm_host_tensor x, want;
  ok(ivm_host_tensor_read_file(IVM_EXAMPLES "/cnn/input.npy", &x));
  ok(ivm_host_tensor_read_file(IVM_EXAMPLES "/cnn/expected_probs.npy", &want));
  ivm_tensor_view in = {x.dtype, x.rank, {0}, x.data, x.nbytes};
  memcpy(in.dims, x.dims, sizeof in.dims);
  same_across_threads(m, 1, &in, "examples/cnn");
  size_t n;
  float *probs = run_session(m, 4, 1, &in, &n);
  cr_assert_eq(n, want.nbytes);
  for (size_t i = 0; i < n / sizeof(float); i++) {
    double w = want.dtype == IVM_DT_F64 ? ((double *)want.data)[i] : ((float *)want.data)[i];
    cr_assert(fabs(probs[i] - w) <= 1e-5, "probs[%zu] = %g, expected %g", i, probs[i], w);
  }
  free(probs);
  ivm_host_tensor_free(&x);
  ivm_host_tensor_free(&want);
  ivm_module_release(m);
}

/* Large enough that every instruction splits: conv, depthwise conv, softmax across
 * channels, a batched matmul and tanh. Weights are inputs so the text stays short. */
static const char *big_model =
    "ivm 1.0\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.Conv@1\n"
    "import #1 = ivm.Relu@1\n"
    "import #2 = ivm.Softmax@1\n"
    "import #3 = ivm.MatMul@1\n"
    "import #4 = ivm.Tanh@1\n"
    "tensor %0 \"x\" f32[1,16,64,64] dynamic\n"
    "tensor %1 \"w\" f32[32,16,3,3] dynamic\n"
    "tensor %2 \"b\" f32[32] dynamic\n"
    "tensor %3 \"wd\" f32[32,1,3,3] dynamic\n"
    "tensor %4 \"m\" f32[32,256] dynamic\n"
    "tensor %5 \"c\" f32[1,32,64,64] dynamic\n"
    "tensor %6 \"r\" f32[1,32,64,64] dynamic\n"
    "tensor %7 \"d\" f32[1,32,32,32] dynamic\n"
    "tensor %8 \"s\" f32[1,32,32,32] dynamic\n"
    "tensor %9 \"p\" f32[1,32,32,256] dynamic\n"
    "tensor %10 \"y\" f32[1,32,32,256] dynamic\n"
    "inputs %0 %1 %2 %3 %4\n"
    "outputs %10\n"
    "%5 = Conv %0 %1 %2 {pads=[1, 1, 1, 1]}\n"
    "%6 = Relu %5\n"
    "%7 = Conv %6 %3 {group=32, pads=[1, 1, 1, 1], strides=[2, 2]}\n"
    "%8 = Softmax %7 {axis=1}\n"
    "%9 = MatMul %8 %4\n"
    "%10 = Tanh %9\n";

Test(workers, big_model_same_output_for_1_2_4_threads) {
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(big_model, strlen(big_model), "big.ivs", &bytes, &size));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  const int64_t dims[5][4] = {{1, 16, 64, 64}, {32, 16, 3, 3}, {32}, {32, 1, 3, 3}, {32, 256}};
  const int rank[5] = {4, 4, 1, 4, 2};
  ivm_tensor_view in[5];
  for (int i = 0; i < 5; i++) {
    memset(&in[i], 0, sizeof in[i]);
    in[i].dtype = IVM_DT_F32;
    in[i].rank = rank[i];
    memcpy(in[i].dims, dims[i], sizeof dims[i]);
    int64_t n = rt_shape_numel(rank[i], dims[i]);
    in[i].data = fill(n, 20 + (uint32_t)i);
    in[i].nbytes = (size_t)n * sizeof(float);
  }
  same_across_threads(m, 5, in, "big model");
  for (int i = 0; i < 5; i++) free((void *)in[i].data);
  ivm_module_release(m);
}
