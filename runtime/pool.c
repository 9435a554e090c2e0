/* The worker pool (runtime/pool.h).
 *
 * Every thread of the pool (the caller is lane 0, worker w is lane w + 1) has one job
 * slot. A thread that calls rt_pool_for publishes its job in its own slot, so that while
 * the scheduler runs several instructions at once (rt_pool_serve), each of them can still
 * split its work across whoever is idle. A slot publishes through a single atomic word:
 *
 *   bits 32..63  generation: bumped by the owner for each job
 *   bit  31      closed: the owner has run out of ranges and no one may join any more
 *   bits  0..30  active: threads that joined this job and have not left it
 *
 * A thread joins a job with a compare-and-swap that checks the generation and the closed
 * bit in the same word, so it can never join a job that was closed or replaced in the
 * meantime; the owner returns only once the job is closed and no one is active, so no one
 * still reads the job's fields when the next job overwrites them. Threads that were slow
 * to wake simply miss the job: the owner never waits for a thread that took no part.
 *
 * Ranges are claimed from both ends of the slot's atomic span [front, back): the owner
 * takes them in order from the front, joiners from the back, until the ends meet. So each
 * thread's share is contiguous (the owner's a prefix, a lone helper's a suffix), as with
 * one run per thread, yet the split follows the threads' actual speeds: a helper that
 * arrives late or runs on a slower (shared, virtual) core takes fewer ranges instead of
 * keeping the owner waiting. Consecutive splits of the same shape put about the same
 * ranges on the same threads, so data a thread wrote stays in its cache. Idle workers
 * wait for the
 * pool's `epoch` (bumped by every publication) to move: they spin for a short while (the
 * next parallel instruction is usually microseconds away), then sleep on a condition
 * variable. Workers start on the first job that needs them, so a session whose
 * instructions are all small never creates a thread. */
#include "runtime/pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define POOL_MAX_THREADS 1024
/* How long a waiter spins before sleeping: parallel instructions are usually tens of
 * microseconds apart, while waking a sleeping thread takes from ~10 µs to milliseconds on
 * a busy or virtualised machine. */
#define SPIN_NS 200000

#define ST_GEN_SHIFT 32
#define ST_CLOSED ((uint64_t)1 << 31)
#define ST_ACTIVE_MASK (ST_CLOSED - 1)

/* Ranges are numbered in 32 bits (rt_pool_for widens the grain past that). */
#define MAX_RANGES ((int64_t)UINT32_MAX)

typedef struct pool_job {
  _Atomic uint64_t state;
  _Atomic uint64_t span; /* ranges not yet claimed: front in bits 0..31, back in 32..63 */
  _Atomic int owner_sleeps;
  /* Written by the owner before the generation is bumped. */
  rt_pool_task fn;
  void *ctx;
  int64_t n, grain;
} __attribute__((aligned(64))) pool_job;

typedef struct pool_lane {
  struct rt_pool *pool;
  int lane;
} pool_lane;

struct rt_pool {
  int threads;  /* the caller included */
  int started;  /* workers running (they start on first use) */
  int start_failed;
  pthread_t *workers;
  pool_lane *lanes; /* workers' thread arguments */
  pool_job *jobs;   /* one slot per lane */

  _Atomic uint64_t epoch; /* bumped by every publication (job or server) */
  _Atomic int stop;
  _Atomic(rt_pool_server *) server;
  _Atomic int server_active; /* threads inside the current server */

  /* Sleeping: idle workers wait on `wake` for the epoch to move, job owners on `idle`
   * for their joiners to leave. The counters let the other side skip the mutex when no
   * one sleeps (each side publishes "I sleep" before its last check, seq_cst). */
  pthread_mutex_t mu;
  pthread_cond_t wake, idle;
  _Atomic int sleepers;
};

/* Set while this thread runs ranges of a job: nested rt_pool_for calls then run inline. */
static _Thread_local int in_task;
/* The pool this thread is a worker of, and its lane there (0 otherwise). */
static _Thread_local rt_pool *my_pool;
static _Thread_local int my_lane;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claims the front or the back range of what is left of a job; 0 when none is. */
static int claim(pool_job *j, int from_back, int64_t *r) {
  uint64_t s = atomic_load_explicit(&j->span, memory_order_relaxed);
  for (;;) {
    uint64_t front = s & UINT32_MAX, back = s >> 32;
    if (front >= back) return 0;
    uint64_t taken = from_back ? (back - 1) << 32 | front : back << 32 | (front + 1);
    if (atomic_compare_exchange_weak_explicit(&j->span, &s, taken, memory_order_relaxed,
                                              memory_order_relaxed)) {
      *r = (int64_t)(from_back ? back - 1 : front);
      return 1;
    }
  }
}

/* Claims and runs ranges of a job, from the front (its owner) or the back (a helper),
 * until none are left; returns how many it ran. */
static int64_t run_ranges(pool_job *j, int from_back) {
  rt_pool_task fn = j->fn;
  void *ctx = j->ctx;
  int64_t n = j->n, grain = j->grain, r;
  int64_t ran = 0;
  int outer = in_task;
  in_task = 1;
  for (; claim(j, from_back, &r); ran++) {
    int64_t begin = r * grain, end = begin + grain;
    fn(ctx, begin, end < n ? end : n);
  }
  in_task = outer;
  return ran;
}

/* Joins the job of generation `gen` if it is still open. */
static int try_join(pool_job *j, uint64_t gen) {
  uint64_t s = atomic_load(&j->state);
  while ((s >> ST_GEN_SHIFT) == gen && !(s & ST_CLOSED))
    if (atomic_compare_exchange_weak(&j->state, &s, s + 1)) return 1;
  return 0;
}

static void leave(rt_pool *p, pool_job *j) {
  uint64_t prev = atomic_fetch_sub(&j->state, 1);
  /* The last one out of a closed job wakes its owner if it went to sleep. */
  if ((prev & ST_CLOSED) && (prev & ST_ACTIVE_MASK) == 1 && atomic_load(&j->owner_sleeps)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->idle);
    pthread_mutex_unlock(&p->mu);
  }
}

/* Joins one open job that still has ranges and helps with it; 1 if it found one. */
static int help_jobs(rt_pool *p) {
  for (int k = 0; k < p->threads; k++) {
    pool_job *j = &p->jobs[k];
    uint64_t s = atomic_load(&j->state);
    if (s & ST_CLOSED) continue;
    if (try_join(j, s >> ST_GEN_SHIFT)) {
      int64_t ran = run_ranges(j, 1);
      leave(p, j);
      if (ran) return 1;
    }
  }
  return 0;
}

/* Runs the server's work (and helps with jobs its tasks publish) until it is done. */
static void serve(rt_pool *p, rt_pool_server *srv, int lane) {
  uint64_t idle_since = 0;
  while (!atomic_load_explicit(&srv->done, memory_order_acquire)) {
    if (srv->next(srv->ctx, lane) || help_jobs(p)) {
      idle_since = 0;
      continue;
    }
    CPU_RELAX();
    /* Nothing ready: another thread holds the only runnable work. Yield the core after
     * a while in case the machine is oversubscribed. */
    uint64_t t = now_ns();
    if (!idle_since) idle_since = t;
    else if (t - idle_since > SPIN_NS) sched_yield();
  }
}

static int try_serve(rt_pool *p, int lane) {
  rt_pool_server *srv = atomic_load(&p->server);
  if (!srv) return 0;
  atomic_fetch_add(&p->server_active, 1);
  /* The owner clears `server` before it waits for server_active to drop: re-check. */
  if (atomic_load(&p->server) == srv) serve(p, srv, lane);
  atomic_fetch_sub(&p->server_active, 1);
  return 1;
}

static void *worker_main(void *arg) {
  pool_lane *me = arg;
  rt_pool *p = me->pool;
  my_pool = p;
  my_lane = me->lane;
  for (;;) {
    if (atomic_load(&p->stop)) return NULL;
    uint64_t seen = atomic_load(&p->epoch);
    if (try_serve(p, me->lane) || help_jobs(p)) continue;
    /* Wait for the epoch to move: spin, then sleep. */
    uint64_t t0 = now_ns();
    for (unsigned i = 1;; i++) {
      CPU_RELAX();
      if (atomic_load_explicit(&p->epoch, memory_order_relaxed) != seen ||
          atomic_load_explicit(&p->stop, memory_order_relaxed))
        break;
      if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS) {
        pthread_mutex_lock(&p->mu);
        atomic_fetch_add(&p->sleepers, 1);
        while (atomic_load(&p->epoch) == seen && !atomic_load(&p->stop))
          pthread_cond_wait(&p->wake, &p->mu);
        atomic_fetch_sub(&p->sleepers, 1);
        pthread_mutex_unlock(&p->mu);
        break;
      }
    }
  }
}

ivm_status rt_pool_create(int threads, rt_pool **out) {
  *out = NULL;
  if (threads < 0) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "pool: threads must be >= 0");
  if (threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n < 1 ? 1 : n > POOL_MAX_THREADS ? POOL_MAX_THREADS : (int)n;
  }
  if (threads > POOL_MAX_THREADS)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "pool: %d threads (at most %d)", threads,
                     POOL_MAX_THREADS);
  rt_pool *p = calloc(1, sizeof *p);
  if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "pool: out of memory");
  p->threads = threads;
  p->jobs = aligned_alloc(64, (size_t)threads * sizeof *p->jobs);
  if (threads > 1) {
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    p->lanes = calloc((size_t)threads - 1, sizeof *p->lanes);
  }
  if (!p->jobs || (threads > 1 && (!p->workers || !p->lanes))) {
    free(p->jobs);
    free(p->workers);
    free(p->lanes);
    free(p);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "pool: out of memory for %d threads", threads);
  }
  for (int k = 0; k < threads; k++) {
    pool_job *j = &p->jobs[k];
    atomic_init(&j->state, ST_CLOSED);
    atomic_init(&j->span, 0);
    atomic_init(&j->owner_sleeps, 0);
  }
  if (pthread_mutex_init(&p->mu, NULL)) goto fail_mu;
  if (pthread_cond_init(&p->wake, NULL)) goto fail_wake;
  if (pthread_cond_init(&p->idle, NULL)) goto fail_idle;
  *out = p;
  return NULL;
fail_idle:
  pthread_cond_destroy(&p->wake);
fail_wake:
  pthread_mutex_destroy(&p->mu);
fail_mu:
  free(p->jobs);
  free(p->workers);
  free(p->lanes);
  free(p);
  return ivm_error(IVM_ERR_INTERNAL, "pool: cannot create its mutex or condition variables");
}

/* Starts the workers on first use. A thread that cannot be created leaves the pool with
 * fewer workers: the work still gets done, by the threads there are. */
static void start_workers(rt_pool *p) {
  while (p->started < p->threads - 1) {
    pool_lane *l = &p->lanes[p->started];
    l->pool = p;
    l->lane = p->started + 1;
    if (pthread_create(&p->workers[p->started], NULL, worker_main, l)) {
      p->start_failed = 1;
      return;
    }
    p->started++;
  }
}

void rt_pool_destroy(rt_pool *p) {
  if (!p) return;
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->stop, 1);
  atomic_fetch_add(&p->epoch, 1);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
  pthread_cond_destroy(&p->idle);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  free(p->jobs);
  free(p->workers);
  free(p->lanes);
  free(p);
}

int rt_pool_threads(const rt_pool *p) { return p ? p->threads : 1; }

/* Tells idle workers that the epoch moved. */
static void publish(rt_pool *p) {
  atomic_fetch_add(&p->epoch, 1);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }
}

static int ensure_workers(rt_pool *p) {
  if (p->started < p->threads - 1 && !p->start_failed) start_workers(p);
  return p->started > 0;
}

void rt_pool_for(rt_pool *p, int64_t n, int64_t grain, rt_pool_task fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n / grain >= MAX_RANGES) grain = n / MAX_RANGES + 1;
  int64_t n_ranges = n / grain + (n % grain != 0);
  /* A worker of another pool has no slot here: it runs inline. */
  if (!p || p->threads < 2 || n_ranges < 2 || in_task || (my_pool && my_pool != p) ||
      !ensure_workers(p)) {
    fn(ctx, 0, n);
    return;
  }
  pool_job *j = &p->jobs[my_pool == p ? my_lane : 0];

  /* Publish: the job's fields, then the new generation (open, no one active). */
  j->fn = fn;
  j->ctx = ctx;
  j->n = n;
  j->grain = grain;
  atomic_store_explicit(&j->span, (uint64_t)n_ranges << 32, memory_order_relaxed);
  uint64_t gen = (atomic_load(&j->state) >> ST_GEN_SHIFT) + 1;
  atomic_store(&j->state, gen << ST_GEN_SHIFT);
  publish(p);

  run_ranges(j, 0);

  /* Close the job, then wait for the threads still in it. */
  uint64_t s = atomic_fetch_or(&j->state, ST_CLOSED) | ST_CLOSED;
  if (s & ST_ACTIVE_MASK) {
    uint64_t t0 = now_ns();
    for (unsigned i = 1; atomic_load_explicit(&j->state, memory_order_acquire) & ST_ACTIVE_MASK;
         i++) {
      CPU_RELAX();
      if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS) break;
    }
    if (atomic_load(&j->state) & ST_ACTIVE_MASK) {
      pthread_mutex_lock(&p->mu);
      atomic_store(&j->owner_sleeps, 1);
      while (atomic_load(&j->state) & ST_ACTIVE_MASK) pthread_cond_wait(&p->idle, &p->mu);
      atomic_store(&j->owner_sleeps, 0);
      pthread_mutex_unlock(&p->mu);
    }
  }
}

void rt_pool_serve(rt_pool *p, rt_pool_server *srv) {
  if (!p || p->threads < 2 || in_task || my_pool || !ensure_workers(p)) {
    /* Alone: the server's own work; kernels' rt_pool_for calls run inline. */
    while (!atomic_load_explicit(&srv->done, memory_order_acquire))
      if (!srv->next(srv->ctx, 0)) CPU_RELAX();
    return;
  }
  atomic_store(&p->server, srv);
  publish(p);
  serve(p, srv, 0);
  /* Done: no new thread may enter; wait for those inside to leave. */
  atomic_store(&p->server, NULL);
  while (atomic_load(&p->server_active)) CPU_RELAX();
}
