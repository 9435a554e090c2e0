/* The dependency-graph scheduler (runtime/sched.h) and the pool's server mode: which
 * edges a graph gets from reads and writes (worked by hand), that every node runs exactly
 * once and after its predecessors on any number of threads, that a failure stops what
 * depends on it, that nodes running at once can still split their work (rt_pool_for),
 * and that a session scheduled as a graph gives the answers of program order. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "isa/module.h"
#include "ivm/ivm.h"
#include "runtime/sched.h"

static void ok(ivm_status st) { cr_assert_null(st, "%s", ivm_status_message(st)); }

#define R(b, e) {b, e, 0}
#define W(b, e) {b, e, 1}

static int has_pred(const rt_sched_graph *g, uint32_t i, uint32_t p) {
  const uint32_t *preds;
  uint32_t n = rt_sched_graph_preds(g, i, &preds);
  for (uint32_t k = 0; k < n; k++)
    if (preds[k] == p) return 1;
  return 0;
}

/* 0: writes [0,8)          1: reads [0,8), writes [8,16)
 * 2: writes [4,12)  -> after 0 (write after write), after 1 (write after read), and it
 *                      overwrote the part of 1's output in [8,12): after 1 again
 * 3: reads [100,104) only: nobody wrote it -> no predecessors
 * 4: reads [10,16)  -> the last writers of [10,12) (2) and of [12,16) (1)
 * 5: writes [0,4)   -> after 0 (its last writer) and 1 (a reader since), not after 2 */
Test(sched, edges_follow_reads_and_writes_of_overlapping_ranges) {
  rt_sched_access acc[] = {W(0, 8), R(0, 8), W(8, 16), W(4, 12), R(100, 104), R(10, 16), W(0, 4)};
  uint32_t start[] = {0, 1, 3, 4, 5, 6, 7};
  double cost[] = {1, 2, 3, 4, 5, 6};
  rt_sched_graph *g;
  ok(rt_sched_graph_build(6, start, acc, cost, &g));
  const uint32_t *p;
  cr_assert_eq(rt_sched_graph_preds(g, 0, &p), 0);
  cr_assert_eq(rt_sched_graph_preds(g, 1, &p), 1);
  cr_assert(has_pred(g, 1, 0));
  cr_assert_eq(rt_sched_graph_preds(g, 2, &p), 2);
  cr_assert(has_pred(g, 2, 0) && has_pred(g, 2, 1));
  cr_assert_eq(rt_sched_graph_preds(g, 3, &p), 0);
  cr_assert_eq(rt_sched_graph_preds(g, 4, &p), 2);
  cr_assert(has_pred(g, 4, 1) && has_pred(g, 4, 2));
  cr_assert_eq(rt_sched_graph_preds(g, 5, &p), 2);
  cr_assert(has_pred(g, 5, 0) && has_pred(g, 5, 1));
  rt_sched_graph_stats gs;
  rt_sched_graph_stats_get(g, &gs);
  cr_assert_eq(gs.nodes, 6);
  cr_assert_eq(gs.edges, 7);
  cr_assert_float_eq(gs.total_ns, 21.0, 1e-9);
  /* longest path: 0 -> 1 -> 2 -> 4 = 1 + 2 + 3 + 5 */
  cr_assert_float_eq(gs.critical_ns, 11.0, 1e-9);
  rt_sched_graph_free(g);
}

Test(sched, in_place_update_depends_on_the_previous_writer_only) {
  rt_sched_access acc[] = {W(0, 4), R(0, 4), W(0, 4), R(0, 4), W(0, 4)};
  uint32_t start[] = {0, 1, 3, 5};
  double cost[] = {1, 1, 1};
  rt_sched_graph *g;
  ok(rt_sched_graph_build(3, start, acc, cost, &g));
  const uint32_t *p;
  cr_assert_eq(rt_sched_graph_preds(g, 1, &p), 1);
  cr_assert_eq(p[0], 0);
  cr_assert_eq(rt_sched_graph_preds(g, 2, &p), 1);
  cr_assert_eq(p[0], 1);
  rt_sched_graph_free(g);
}

/* ---- running random graphs ------------------------------------------------------------ */
typedef struct trace {
  const rt_sched_graph *g;
  _Atomic uint32_t clock;
  uint32_t *finished_at; /* per node: clock value at its end (0 = never ran) */
  _Atomic uint32_t *runs;
  int fail_node;          /* -1: none */
  _Atomic int lanes_seen[8];
  int split;              /* nodes call rt_pool_for */
  int wait_for_worker;    /* nodes on lane 0 wait (up to a second) until a worker ran one */
  rt_pool *pool;
  int64_t *sums;
} trace;

static void add_range(void *ctx, int64_t b, int64_t e) {
  _Atomic int64_t *sum = ctx;
  int64_t s = 0;
  for (int64_t k = b; k < e; k++) s += k;
  atomic_fetch_add(sum, s);
}

static ivm_status exec_node(void *ctx, uint32_t node, int lane) {
  trace *t = ctx;
  atomic_fetch_add(&t->runs[node], 1);
  if (lane >= 0 && lane < 8) atomic_store(&t->lanes_seen[lane], 1);
  const uint32_t *preds;
  uint32_t n = rt_sched_graph_preds(t->g, node, &preds);
  uint32_t now = atomic_load(&t->clock);
  for (uint32_t k = 0; k < n; k++)
    if (!t->finished_at[preds[k]] || t->finished_at[preds[k]] > now)
      return ivm_error(IVM_ERR_INTERNAL, "node %u started before its predecessor %u", node, preds[k]);
  if ((int)node == t->fail_node) return ivm_error(IVM_ERR_RUNTIME, "node %u fails", node);
  /* A loaded machine may take milliseconds to start a thread: give the worker time. */
  for (int k = 0; t->wait_for_worker && lane == 0 && !atomic_load(&t->lanes_seen[1]) && k < 1000; k++) {
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
  }
  if (t->split) {
    _Atomic int64_t sum = 0;
    rt_pool_for(t->pool, 10000 + node, 97, add_range, &sum);
    t->sums[node] = atomic_load(&sum);
  } else {
    volatile double x = 0; /* some work, so that threads overlap */
    for (int k = 0; k < 2000; k++) x += k;
  }
  t->finished_at[node] = atomic_fetch_add(&t->clock, 1) + 1;
  return NULL;
}

/* Random ranges over a small address space, so that reads and writes overlap a lot. */
static rt_sched_graph *random_graph(uint32_t n, unsigned seed) {
  uint32_t *start = malloc((n + 1) * sizeof *start);
  rt_sched_access *acc = malloc(4 * n * sizeof *acc);
  double *cost = malloc(n * sizeof *cost);
  uint32_t a = 0;
  for (uint32_t i = 0; i < n; i++) {
    start[i] = a;
    int k = 1 + (int)(rand_r(&seed) % 4);
    for (int j = 0; j < k; j++) {
      uint64_t b = rand_r(&seed) % 64, len = 1 + rand_r(&seed) % 8;
      acc[a++] = (rt_sched_access){b, b + len, (uint8_t)(j == 0 || rand_r(&seed) % 3 == 0)};
    }
    cost[i] = 1 + rand_r(&seed) % 100;
  }
  start[n] = a;
  rt_sched_graph *g;
  ok(rt_sched_graph_build(n, start, acc, cost, &g));
  free(start);
  free(acc);
  free(cost);
  return g;
}

static void run_trace(trace *t, uint32_t n, int threads, ivm_status *out) {
  ok(rt_pool_create(threads, &t->pool));
  t->finished_at = calloc(n, sizeof *t->finished_at);
  t->runs = calloc(n, sizeof *t->runs);
  t->sums = calloc(n, sizeof *t->sums);
  atomic_store(&t->clock, 0);
  rt_sched_cpu *cpu;
  ok(rt_sched_cpu_create(t->g, t->pool, exec_node, t, &cpu));
  *out = rt_sched_execute(t->g, cpu, NULL, 0);
  rt_sched_cpu_free(cpu);
  rt_pool_destroy(t->pool);
}

static void free_trace(trace *t) {
  free(t->finished_at);
  free((void *)t->runs);
  free(t->sums);
}

Test(sched, every_node_runs_once_after_its_predecessors_on_1_to_4_threads) {
  for (unsigned seed = 1; seed <= 6; seed++) {
    uint32_t n = 50 + seed * 40;
    rt_sched_graph *g = random_graph(n, seed);
    for (int threads = 1; threads <= 4; threads++) {
      for (int rep = 0; rep < 3; rep++) {
        trace t;
        memset(&t, 0, sizeof t);
        t.g = g;
        t.fail_node = -1;
        ivm_status st;
        run_trace(&t, n, threads, &st);
        cr_assert_null(st, "seed %u threads %d: %s", seed, threads, ivm_status_message(st));
        for (uint32_t i = 0; i < n; i++)
          cr_assert_eq(atomic_load(&t.runs[i]), 1, "seed %u threads %d: node %u ran %u times",
                       seed, threads, i, atomic_load(&t.runs[i]));
        free_trace(&t);
      }
    }
    rt_sched_graph_free(g);
  }
}

Test(sched, independent_nodes_run_on_several_threads) {
  /* 64 nodes over disjoint ranges: all independent */
  enum { N = 64 };
  rt_sched_access acc[N];
  uint32_t start[N + 1];
  double cost[N];
  for (uint32_t i = 0; i < N; i++) {
    acc[i] = (rt_sched_access){i * 8, i * 8 + 8, 1};
    start[i] = i;
    cost[i] = 10;
  }
  start[N] = N;
  rt_sched_graph *g;
  ok(rt_sched_graph_build(N, start, acc, cost, &g));
  rt_sched_graph_stats gs;
  rt_sched_graph_stats_get(g, &gs);
  cr_assert_eq(gs.edges, 0);
  int seen_other = 0;
  for (int rep = 0; rep < 20 && !seen_other; rep++) {
    trace t;
    memset(&t, 0, sizeof t);
    t.g = g;
    t.fail_node = -1;
    t.wait_for_worker = 1;
    ivm_status st;
    run_trace(&t, N, 2, &st);
    ok(st);
    seen_other = atomic_load(&t.lanes_seen[1]);
    free_trace(&t);
  }
  cr_assert(seen_other, "the worker never took a node");
  rt_sched_graph_free(g);
}

Test(sched, a_failure_is_returned_and_what_depends_on_it_does_not_run) {
  uint32_t n = 200;
  rt_sched_graph *g = random_graph(n, 42);
  for (int threads = 1; threads <= 3; threads++) {
    trace t;
    memset(&t, 0, sizeof t);
    t.g = g;
    t.fail_node = 57;
    ivm_status st;
    run_trace(&t, n, threads, &st);
    cr_assert_not_null(st);
    cr_assert(strstr(ivm_status_message(st), "node 57 fails"), "%s", ivm_status_message(st));
    ivm_status_free(st);
    /* Nothing that (transitively) depends on 57 ran. */
    uint8_t *after = calloc(n, 1);
    after[57] = 1;
    for (uint32_t i = 58; i < n; i++) {
      const uint32_t *p;
      uint32_t k = rt_sched_graph_preds(g, i, &p);
      for (uint32_t j = 0; j < k; j++)
        if (after[p[j]]) after[i] = 1;
      if (after[i] && i != 57) cr_assert_eq(atomic_load(&t.runs[i]), 0, "node %u ran", i);
    }
    free(after);
    free_trace(&t);
  }
  rt_sched_graph_free(g);
}

Test(sched, nodes_running_at_once_can_each_split_their_work) {
  uint32_t n = 120;
  rt_sched_graph *g = random_graph(n, 7);
  for (int threads = 2; threads <= 4; threads++) {
    trace t;
    memset(&t, 0, sizeof t);
    t.g = g;
    t.fail_node = -1;
    t.split = 1;
    ivm_status st;
    run_trace(&t, n, threads, &st);
    ok(st);
    for (uint32_t i = 0; i < n; i++) {
      int64_t m = 10000 + i;
      cr_assert_eq(t.sums[i], m * (m - 1) / 2, "node %u threads %d", i, threads);
    }
    free_trace(&t);
  }
  rt_sched_graph_free(g);
}

/* ---- a session scheduled as a graph ---------------------------------------------------- */
/* a = -x; p = sin(a) reads a; q = |x| is written over a's storage (a is dead after p in
 * program order, so the planner may reuse it): q must wait for p although no data flows
 * from p to q. r = p + q = sin(-x) + |x|. u = exp(x) and v = u * u are independent of all
 * that; y = r + v. */
static const char *war =
    "ivm 1.0\n"
    "plan arena_size=1280 unplanned_size=1280 arena_align=64\n"
    "import #0 = ivm.Neg@1\n"
    "import #1 = ivm.Sin@1\n"
    "import #2 = ivm.Abs@1\n"
    "import #3 = ivm.Add@1\n"
    "import #4 = ivm.Exp@1\n"
    "import #5 = ivm.Mul@1\n"
    "tensor %0 \"x\" f32[64] arena @0 size=256\n"
    "tensor %1 \"a\" f32[64] arena @256 size=256\n"
    "tensor %2 \"p\" f32[64] arena @512 size=256\n"
    "tensor %3 \"q\" f32[64] arena @256 size=256\n"
    "tensor %4 \"r\" f32[64] arena @768 size=256\n"
    "tensor %5 \"u\" f32[64] arena @1024 size=256\n"
    "tensor %6 \"v\" f32[64] arena @512 size=256\n"
    "tensor %7 \"y\" f32[64] arena @0 size=256\n"
    "inputs %0\n"
    "outputs %7\n"
    "%1 = Neg %0\n"
    "%2 = Sin %1\n"
    "%3 = Abs %0\n"
    "%4 = Add %2 %3\n"
    "%5 = Exp %0\n"
    "%6 = Mul %5 %5\n"
    "%7 = Add %4 %6\n";

Test(sched, graph_schedule_honours_storage_reuse_and_equals_program_order) {
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(war, strlen(war), "war.ivs", &bytes, &size));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  float x[64];
  for (int k = 0; k < 64; k++) x[k] = (float)(k - 32) / 16.0f;
  int64_t dims[1] = {64};
  for (int threads = 1; threads <= 4; threads++)
    for (int mode = IVM_SCHEDULE_AUTO; mode <= IVM_SCHEDULE_GRAPH; mode++)
      for (int rep = 0; rep < 20; rep++) {
        ivm_session_options so;
        memset(&so, 0, sizeof so);
        so.threads = threads;
        so.schedule = (ivm_schedule)mode;
        ivm_session *s;
        ok(ivm_session_create(m, &so, &s));
        ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 1, dims, x, sizeof x));
        ok(ivm_session_run(s));
        ivm_tensor_view v;
        ok(ivm_session_output(s, 0, &v));
        const float *y = v.data;
        for (int k = 0; k < 64; k++) {
          double e = sin(-(double)x[k]) + fabs(x[k]) + exp(2.0 * x[k]);
          cr_assert(fabs(y[k] - e) <= 1e-5 * (1 + fabs(e)), "threads %d mode %d y[%d] = %g, want %g",
                    threads, mode, k, y[k], e);
        }
        ivm_session_destroy(s);
      }
  ivm_module_release(m);
}

/* The `war` program above with n floats per tensor (its arena offsets scaled). */
static char *war_of_size(int64_t n) {
  static const char *fmt =
      "ivm 1.0\n"
      "plan arena_size=%lld unplanned_size=%lld arena_align=64\n"
      "import #0 = ivm.Neg@1\nimport #1 = ivm.Sin@1\nimport #2 = ivm.Abs@1\n"
      "import #3 = ivm.Add@1\nimport #4 = ivm.Exp@1\nimport #5 = ivm.Mul@1\n"
      "tensor %%0 \"x\" f32[%lld] arena @0 size=%lld\n"
      "tensor %%1 \"a\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%2 \"p\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%3 \"q\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%4 \"r\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%5 \"u\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%6 \"v\" f32[%lld] arena @%lld size=%lld\n"
      "tensor %%7 \"y\" f32[%lld] arena @0 size=%lld\n"
      "inputs %%0\noutputs %%7\n"
      "%%1 = Neg %%0\n%%2 = Sin %%1\n%%3 = Abs %%0\n%%4 = Add %%2 %%3\n"
      "%%5 = Exp %%0\n%%6 = Mul %%5 %%5\n%%7 = Add %%4 %%6\n";
  long long b = (long long)n * 4, N = (long long)n;
  char *text = malloc(4096);
  cr_assert(text);
  snprintf(text, 4096, fmt, 5 * b, 5 * b, N, b, N, b, b, N, 2 * b, b, N, b, b, N, 3 * b, b, N,
           4 * b, b, N, 2 * b, b, N, b);
  return text;
}

static ivm_schedule_stats auto_schedule(int64_t n, int threads) {
  char *text = war_of_size(n);
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(text, strlen(text), "war.ivs", &bytes, &size));
  free(text);
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  ivm_session_options so;
  memset(&so, 0, sizeof so);
  so.threads = threads;
  so.schedule = IVM_SCHEDULE_AUTO;
  ivm_session *s;
  ok(ivm_session_create(m, &so, &s));
  ivm_schedule_stats st;
  ok(ivm_session_schedule_stats(s, &st));
  ivm_session_destroy(s);
  ivm_module_release(m);
  return st;
}

/* The cost model (vm/schedule.c's roofline) keeps a tiny program in program order: on 64
 * floats the two branches are a few hundred ns each, less than the scheduler costs. The
 * same program on 4 MiB tensors overlaps ~0.3 ms branches: a graph, whose estimate is the
 * 68 MB its 7 instructions move at the model's 30 GB/s, 2.3 ms (the former model, which
 * added FLOPs and bytes at 8 GB/s, said 8.5 ms and sent the 40 µs melspectrogram to a
 * graph that took 72 µs on 2 threads). One thread: never a graph. */
Test(sched, auto_schedule_keeps_tiny_programs_in_order) {
  cr_expect_eq(auto_schedule(64, 2).graph_segments, 0);
  cr_expect_eq(auto_schedule(64, 4).graph_segments, 0);
  ivm_schedule_stats big = auto_schedule(1 << 20, 2);
  cr_expect_eq(big.graph_segments, 1);
  cr_expect(big.estimated_serial_ms > 1.5 && big.estimated_serial_ms < 3.5, "estimated %.3f ms",
            big.estimated_serial_ms);
  cr_expect_eq(auto_schedule(1 << 20, 1).graph_segments, 0);
}

Test(sched, an_error_inside_a_graph_names_the_instruction) {
  static const char *bad =
      "ivm 1.0\n"
      "plan arena_size=512 unplanned_size=512 arena_align=64\n"
      "import #0 = ivm.Neg@1\n"
      "import #1 = ivm.Gather@1\n"
      "tensor %0 \"x\" f32[4] arena @0 size=16\n"
      "tensor %1 \"i\" i64[2] arena @64 size=16\n"
      "tensor %2 \"a\" f32[4] arena @128 size=16\n"
      "tensor %3 \"g\" f32[2] arena @192 size=8\n"
      "inputs %0 %1\n"
      "outputs %2 %3\n"
      "%2 = Neg %0\n"
      "%3 = Gather %0 %1 {axis=0}\n";
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(bad, strlen(bad), "bad.ivs", &bytes, &size));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  ivm_session_options so;
  memset(&so, 0, sizeof so);
  so.threads = 2;
  so.schedule = IVM_SCHEDULE_GRAPH;
  ivm_session *s;
  ok(ivm_session_create(m, &so, &s));
  float x[4] = {1, 2, 3, 4};
  int64_t idx[2] = {1, 9}, d4[1] = {4}, d2[1] = {2};
  ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 1, d4, x, sizeof x));
  ok(ivm_session_bind_input(s, 1, IVM_DT_I64, 1, d2, idx, sizeof idx));
  ivm_status st = ivm_session_run(s);
  cr_assert_not_null(st);
  cr_assert(strstr(ivm_status_message(st), "instruction 1 (Gather"), "%s", ivm_status_message(st));
  ivm_status_free(st);
  ivm_session_destroy(s);
  ivm_module_release(m);
}
