/* The dynamic scheduler (runtime/sched.h). */
#include "runtime/sched.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct rt_sched_graph {
  uint32_t n, n_edges;
  uint32_t *pred_start, *preds; /* CSR: node i's predecessors */
  uint32_t *succ_start, *succs; /* CSR: node i's successors */
  double *cost, *prio;
  double total, critical;
};

#define SCHED_MAX_QUEUES 8

struct rt_sched_run {
  const rt_sched_graph *g;
  _Atomic uint32_t *pending; /* predecessors not yet completed */
  _Atomic uint32_t remaining;
  _Atomic int64_t in_flight; /* dispatched, not completed (queued or running) */
  _Atomic int failed;
  pthread_mutex_t err_mu;
  ivm_status error;
  const rt_sched_queue *queues[SCHED_MAX_QUEUES];
  int n_queues;
  rt_pool_server server;
};

struct rt_sched_cpu {
  rt_sched_queue queue;
  rt_pool *pool;
  rt_sched_exec_fn exec;
  void *ctx;
  pthread_mutex_t mu;
  uint32_t *heap, n_heap; /* ready nodes, highest priority first */
  _Atomic int64_t load_ns;
  rt_sched_run run;
};

/* ---- building ---------------------------------------------------------------------- */
typedef struct u32vec {
  uint32_t *v, n, cap;
} u32vec;

static int u32vec_push(u32vec *a, uint32_t x) {
  if (a->n == a->cap) {
    uint32_t cap = a->cap ? a->cap * 2 : 8;
    uint32_t *v = realloc(a->v, cap * sizeof *v);
    if (!v) return 0;
    a->v = v;
    a->cap = cap;
  }
  a->v[a->n++] = x;
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* First index k of the sorted b[0..m) with b[k] >= x. */
static uint32_t lower_bound(const uint64_t *b, uint32_t m, uint64_t x) {
  uint32_t lo = 0, hi = m;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (b[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

void rt_sched_graph_free(rt_sched_graph *g) {
  if (!g) return;
  free(g->pred_start);
  free(g->preds);
  free(g->succ_start);
  free(g->succs);
  free(g->cost);
  free(g->prio);
  free(g);
}

/* The address space is cut at every access boundary into elementary intervals; each
 * remembers its last writer and the readers since, which is all the edges need. */
ivm_status rt_sched_graph_build(uint32_t n, const uint32_t *acc_start,
                                const rt_sched_access *acc, const double *cost_ns,
                                rt_sched_graph **out) {
  *out = NULL;
  uint32_t n_acc = acc_start[n];
  ivm_status st = NULL;
  rt_sched_graph *g = calloc(1, sizeof *g);
  uint64_t *bounds = malloc((2 * (size_t)n_acc + 1) * sizeof *bounds);
  int64_t *last_writer = NULL;
  u32vec *readers = NULL, deps = {0}, preds = {0};
  uint32_t m = 0;
  if (!g || !bounds) goto oom;
  g->n = n;
  g->pred_start = malloc(((size_t)n + 1) * sizeof *g->pred_start);
  g->succ_start = calloc((size_t)n + 1, sizeof *g->succ_start);
  g->cost = malloc(((size_t)n + 1) * sizeof *g->cost);
  g->prio = malloc(((size_t)n + 1) * sizeof *g->prio);
  if (!g->pred_start || !g->succ_start || !g->cost || !g->prio) goto oom;

  for (uint32_t a = 0; a < n_acc; a++) {
    if (acc[a].end <= acc[a].begin) continue;
    bounds[m++] = acc[a].begin;
    bounds[m++] = acc[a].end;
  }
  qsort(bounds, m, sizeof *bounds, cmp_u64);
  uint32_t u = 0;
  for (uint32_t k = 0; k < m; k++)
    if (u == 0 || bounds[k] != bounds[u - 1]) bounds[u++] = bounds[k];
  m = u;
  uint32_t n_iv = m ? m - 1 : 0;
  last_writer = malloc((n_iv + 1) * sizeof *last_writer);
  readers = calloc(n_iv + 1, sizeof *readers);
  if (!last_writer || !readers) goto oom;
  for (uint32_t e = 0; e < n_iv; e++) last_writer[e] = -1;

  for (uint32_t i = 0; i < n; i++) {
    deps.n = 0;
    g->pred_start[i] = preds.n;
    /* Reads first: an instruction that updates a range in place reads the old value. */
    for (int pass = 0; pass < 2; pass++) {
      for (uint32_t a = acc_start[i]; a < acc_start[i + 1]; a++) {
        if (acc[a].write != pass || acc[a].end <= acc[a].begin) continue;
        uint32_t lo = lower_bound(bounds, m, acc[a].begin), hi = lower_bound(bounds, m, acc[a].end);
        for (uint32_t e = lo; e < hi; e++) {
          if (last_writer[e] >= 0 && last_writer[e] != i &&
              !u32vec_push(&deps, (uint32_t)last_writer[e]))
            goto oom;
          if (!pass) {
            u32vec *r = &readers[e];
            if ((r->n == 0 || r->v[r->n - 1] != i) && !u32vec_push(r, i)) goto oom;
          } else {
            for (uint32_t k = 0; k < readers[e].n; k++)
              if (readers[e].v[k] != i && !u32vec_push(&deps, readers[e].v[k])) goto oom;
            readers[e].n = 0;
            last_writer[e] = i;
          }
        }
      }
    }
    if (deps.n > 1) qsort(deps.v, deps.n, sizeof *deps.v, cmp_u32);
    for (uint32_t k = 0; k < deps.n; k++)
      if ((k == 0 || deps.v[k] != deps.v[k - 1]) && !u32vec_push(&preds, deps.v[k])) goto oom;
  }
  g->pred_start[n] = preds.n;
  g->n_edges = preds.n;
  g->preds = preds.v ? preds.v : malloc(1);
  preds.v = NULL;
  g->succs = malloc(((size_t)g->n_edges + 1) * sizeof *g->succs);
  if (!g->preds || !g->succs) goto oom;
  for (uint32_t e = 0; e < g->n_edges; e++) g->succ_start[g->preds[e] + 1]++;
  for (uint32_t i = 0; i < n; i++) g->succ_start[i + 1] += g->succ_start[i];
  {
    uint32_t *fill = calloc((size_t)n + 1, sizeof *fill);
    if (!fill) goto oom;
    for (uint32_t i = 0; i < n; i++)
      for (uint32_t k = g->pred_start[i]; k < g->pred_start[i + 1]; k++) {
        uint32_t p = g->preds[k];
        g->succs[g->succ_start[p] + fill[p]++] = i;
      }
    free(fill);
  }
  /* Priorities: the longest cost path to the end (successors come later in order). */
  g->total = g->critical = 0;
  for (uint32_t i = n; i-- > 0;) {
    double c = cost_ns[i] > 0 ? cost_ns[i] : 0, best = 0;
    g->cost[i] = c;
    for (uint32_t k = g->succ_start[i]; k < g->succ_start[i + 1]; k++)
      if (g->prio[g->succs[k]] > best) best = g->prio[g->succs[k]];
    g->prio[i] = c + best;
    g->total += c;
    if (g->prio[i] > g->critical) g->critical = g->prio[i];
  }
  goto done;
oom:
  st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "scheduler: out of memory for a graph of %u nodes", n);
done:
  if (readers)
    for (uint32_t e = 0; e < n_iv; e++) free(readers[e].v);
  free(readers);
  free(last_writer);
  free(bounds);
  free(deps.v);
  free(preds.v);
  if (st) rt_sched_graph_free(g);
  else *out = g;
  return st;
}

void rt_sched_graph_stats_get(const rt_sched_graph *g, rt_sched_graph_stats *out) {
  out->nodes = g->n;
  out->edges = g->n_edges;
  out->total_ns = g->total;
  out->critical_ns = g->critical;
}

uint32_t rt_sched_graph_preds(const rt_sched_graph *g, uint32_t i, const uint32_t **preds) {
  *preds = g->preds + g->pred_start[i];
  return g->pred_start[i + 1] - g->pred_start[i];
}

/* ---- running ----------------------------------------------------------------------- */
static void dispatch(rt_sched_run *run, uint32_t node) {
  const rt_sched_graph *g = run->g;
  const rt_sched_queue *best = NULL;
  double best_t = 0;
  for (int k = 0; k < run->n_queues; k++) {
    const rt_sched_queue *q = run->queues[k];
    if (q->accepts && !q->accepts(q->self, node)) continue;
    double t = q->load_ns(q->self) + g->cost[node];
    if (!best || t < best_t) {
      best = q;
      best_t = t;
    }
  }
  atomic_fetch_add(&run->in_flight, 1);
  if (!best) {
    rt_sched_complete(run, node,
                      ivm_error(IVM_ERR_UNSUPPORTED, "scheduler: no queue accepts node %u", node));
    return;
  }
  best->push(best->self, run, node, g->prio[node], g->cost[node]);
}

/* The last thing any completion does: afterwards the run may be over. */
static void finish(rt_sched_run *run, int succeeded) {
  int64_t left = atomic_fetch_sub(&run->in_flight, 1) - 1;
  if (succeeded && atomic_fetch_sub(&run->remaining, 1) == 1)
    atomic_store_explicit(&run->server.done, 1, memory_order_release);
  else if (left == 0 && atomic_load(&run->failed))
    atomic_store_explicit(&run->server.done, 1, memory_order_release);
}

void rt_sched_complete(rt_sched_run *run, uint32_t node, ivm_status st) {
  const rt_sched_graph *g = run->g;
  if (st) {
    pthread_mutex_lock(&run->err_mu);
    if (!run->error) run->error = st;
    else ivm_status_free(st);
    atomic_store(&run->failed, 1);
    pthread_mutex_unlock(&run->err_mu);
    finish(run, 0);
    return;
  }
  if (!atomic_load(&run->failed))
    for (uint32_t k = g->succ_start[node]; k < g->succ_start[node + 1]; k++) {
      uint32_t s = g->succs[k];
      if (atomic_fetch_sub(&run->pending[s], 1) == 1) dispatch(run, s);
    }
  finish(run, 1);
}

/* ---- the CPU queue ------------------------------------------------------------------- */
static int heap_before(const rt_sched_cpu *q, uint32_t a, uint32_t b) {
  double pa = q->run.g->prio[a], pb = q->run.g->prio[b];
  return pa > pb || (pa == pb && a < b); /* ties: program order */
}

static void cpu_push(void *self, rt_sched_run *run, uint32_t node, double priority,
                     double cost_ns) {
  (void)run;
  (void)priority;
  rt_sched_cpu *q = self;
  pthread_mutex_lock(&q->mu);
  uint32_t k = q->n_heap++;
  while (k > 0) {
    uint32_t parent = (k - 1) / 2;
    if (!heap_before(q, node, q->heap[parent])) break;
    q->heap[k] = q->heap[parent];
    k = parent;
  }
  q->heap[k] = node;
  pthread_mutex_unlock(&q->mu);
  atomic_fetch_add(&q->load_ns, (int64_t)cost_ns);
}

static int cpu_pop(rt_sched_cpu *q, uint32_t *node) {
  pthread_mutex_lock(&q->mu);
  if (!q->n_heap) {
    pthread_mutex_unlock(&q->mu);
    return 0;
  }
  *node = q->heap[0];
  uint32_t last = q->heap[--q->n_heap], k = 0;
  for (;;) {
    uint32_t c = 2 * k + 1;
    if (c >= q->n_heap) break;
    if (c + 1 < q->n_heap && heap_before(q, q->heap[c + 1], q->heap[c])) c++;
    if (!heap_before(q, q->heap[c], last)) break;
    q->heap[k] = q->heap[c];
    k = c;
  }
  if (q->n_heap) q->heap[k] = last;
  pthread_mutex_unlock(&q->mu);
  return 1;
}

static double cpu_load(void *self) {
  rt_sched_cpu *q = self;
  return (double)atomic_load_explicit(&q->load_ns, memory_order_relaxed);
}

static int cpu_next(void *ctx, int lane) {
  rt_sched_cpu *q = ctx;
  uint32_t node;
  if (!cpu_pop(q, &node)) return 0;
  rt_sched_run *run = &q->run;
  double cost = run->g->cost[node];
  if (atomic_load(&run->failed)) { /* cancelled: nodes after a failure do not run */
    atomic_fetch_sub(&q->load_ns, (int64_t)cost);
    finish(run, 0);
    return 1;
  }
  ivm_status st = q->exec(q->ctx, node, lane);
  atomic_fetch_sub(&q->load_ns, (int64_t)cost);
  rt_sched_complete(run, node, st);
  return 1;
}

ivm_status rt_sched_cpu_create(const rt_sched_graph *g, rt_pool *pool, rt_sched_exec_fn exec,
                               void *ctx, rt_sched_cpu **out) {
  *out = NULL;
  rt_sched_cpu *q = calloc(1, sizeof *q);
  if (!q) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "scheduler: out of memory");
  q->heap = malloc(((size_t)g->n + 1) * sizeof *q->heap);
  q->run.pending = malloc(((size_t)g->n + 1) * sizeof *q->run.pending);
  if (!q->heap || !q->run.pending || pthread_mutex_init(&q->mu, NULL)) {
    free(q->heap);
    free(q->run.pending);
    free(q);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "scheduler: out of memory for %u nodes", g->n);
  }
  if (pthread_mutex_init(&q->run.err_mu, NULL)) {
    pthread_mutex_destroy(&q->mu);
    free(q->heap);
    free(q->run.pending);
    free(q);
    return ivm_error(IVM_ERR_INTERNAL, "scheduler: cannot create a mutex");
  }
  q->pool = pool;
  q->exec = exec;
  q->ctx = ctx;
  q->run.g = g;
  q->queue = (rt_sched_queue){"cpu", q, NULL, cpu_load, cpu_push};
  *out = q;
  return NULL;
}

void rt_sched_cpu_free(rt_sched_cpu *q) {
  if (!q) return;
  pthread_mutex_destroy(&q->run.err_mu);
  pthread_mutex_destroy(&q->mu);
  free(q->heap);
  free(q->run.pending);
  free(q);
}

const rt_sched_queue *rt_sched_cpu_queue(rt_sched_cpu *q) { return &q->queue; }

ivm_status rt_sched_execute(const rt_sched_graph *g, rt_sched_cpu *cpu,
                            const rt_sched_queue *const *extra_queues, int n_extra) {
  if (n_extra < 0 || n_extra > SCHED_MAX_QUEUES - 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "scheduler: %d extra queues (at most %d)",
                     n_extra, SCHED_MAX_QUEUES - 1);
  if (g->n == 0) return NULL;
  rt_sched_run *run = &cpu->run;
  run->g = g;
  run->queues[0] = &cpu->queue;
  for (int k = 0; k < n_extra; k++) run->queues[1 + k] = extra_queues[k];
  run->n_queues = 1 + n_extra;
  for (uint32_t i = 0; i < g->n; i++)
    atomic_store_explicit(&run->pending[i], g->pred_start[i + 1] - g->pred_start[i],
                          memory_order_relaxed);
  atomic_store(&run->remaining, g->n);
  atomic_store(&run->in_flight, 0);
  atomic_store(&run->failed, 0);
  run->error = NULL;
  run->server.next = cpu_next;
  run->server.ctx = cpu;
  atomic_store(&run->server.done, 0);
  cpu->n_heap = 0;
  atomic_store(&cpu->load_ns, 0);
  for (uint32_t i = 0; i < g->n; i++)
    if (g->pred_start[i + 1] == g->pred_start[i]) dispatch(run, i);
  rt_pool_serve(cpu->pool, &run->server);
  ivm_status st = run->error;
  run->error = NULL;
  return st;
}
