/* The worker pool (runtime/pool.h).
 *
 * One job at a time, published through a single atomic word `state`:
 *
 *   bits 32..63  generation: bumped by the caller for each job
 *   bit  31      closed: the caller has run out of ranges and no one may join any more
 *   bits  0..30  active: workers that joined this job and have not left it
 *
 * A worker joins a job with a compare-and-swap that checks the generation and the closed
 * bit in the same word, so it can never join a job that was closed or replaced in the
 * meantime; the caller returns only once the job is closed and no one is active, so no
 * worker still reads the job's fields when the next job overwrites them. Workers that were
 * slow to wake simply miss the job: the caller never waits for a thread that took no part.
 *
 * Ranges are claimed from the atomic counter `next`. Waits spin for a short while (the
 * next parallel instruction is usually microseconds away) before sleeping on a condition
 * variable. Workers start on the first job that needs them, so a session whose
 * instructions are all small never creates a thread. */
#include "runtime/pool.h"

#include <pthread.h>
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

struct rt_pool {
  int threads;  /* the caller included */
  int started;  /* workers running (they start on first use) */
  int start_failed;
  uint64_t start_gen; /* the generation before the job that started the workers */
  pthread_t *workers;

  _Atomic uint64_t state;
  _Atomic int64_t next;  /* next range index of the current job */
  _Atomic int stop;

  /* The current job; written by the caller before the generation is bumped. */
  rt_pool_task fn;
  void *ctx;
  int64_t n, grain, n_ranges;

  /* Sleeping: workers wait on `wake` for a new generation, the caller on `idle` for the
   * active count to reach zero. The counters let the other side skip the mutex when no
   * one sleeps (each side publishes "I sleep" before its last check, seq_cst). */
  pthread_mutex_t mu;
  pthread_cond_t wake, idle;
  _Atomic int sleepers;
  _Atomic int caller_sleeps;
};

/* Set while this thread runs a task: nested rt_pool_for calls then run inline. */
static _Thread_local int in_task;

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Claims and runs ranges of the current job until none are left. */
static void run_ranges(rt_pool *p) {
  rt_pool_task fn = p->fn;
  void *ctx = p->ctx;
  int64_t n = p->n, grain = p->grain, n_ranges = p->n_ranges;
  in_task = 1;
  for (;;) {
    int64_t r = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    if (r >= n_ranges) break;
    int64_t begin = r * grain, end = begin + grain;
    fn(ctx, begin, end < n ? end : n);
  }
  in_task = 0;
}

/* Joins the job of generation `gen` if it is still open. */
static int try_join(rt_pool *p, uint64_t gen) {
  uint64_t s = atomic_load(&p->state);
  while ((s >> ST_GEN_SHIFT) == gen && !(s & ST_CLOSED))
    if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) return 1;
  return 0;
}

static void leave(rt_pool *p) {
  uint64_t prev = atomic_fetch_sub(&p->state, 1);
  /* The last one out of a closed job wakes the caller if it went to sleep. */
  if ((prev & ST_CLOSED) && (prev & ST_ACTIVE_MASK) == 1 && atomic_load(&p->caller_sleeps)) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_signal(&p->idle);
    pthread_mutex_unlock(&p->mu);
  }
}

static void *worker_main(void *arg) {
  rt_pool *p = arg;
  uint64_t seen = p->start_gen; /* so the job being published now is not missed */
  for (;;) {
    /* Wait for a generation after `seen`: spin, then sleep. */
    uint64_t gen = atomic_load(&p->state) >> ST_GEN_SHIFT;
    if (gen == seen && !atomic_load(&p->stop)) {
      uint64_t t0 = now_ns();
      for (unsigned i = 1;; i++) {
        CPU_RELAX();
        gen = atomic_load_explicit(&p->state, memory_order_relaxed) >> ST_GEN_SHIFT;
        if (gen != seen || atomic_load_explicit(&p->stop, memory_order_relaxed)) break;
        if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS) break;
      }
    }
    if (gen == seen && !atomic_load(&p->stop)) {
      pthread_mutex_lock(&p->mu);
      atomic_fetch_add(&p->sleepers, 1);
      while ((atomic_load(&p->state) >> ST_GEN_SHIFT) == seen && !atomic_load(&p->stop))
        pthread_cond_wait(&p->wake, &p->mu);
      atomic_fetch_sub(&p->sleepers, 1);
      pthread_mutex_unlock(&p->mu);
    }
    if (atomic_load(&p->stop)) return NULL;
    seen = atomic_load(&p->state) >> ST_GEN_SHIFT;
    if (try_join(p, seen)) {
      run_ranges(p);
      leave(p);
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
  if (threads > 1) {
    p->workers = calloc((size_t)threads - 1, sizeof *p->workers);
    if (!p->workers) {
      free(p);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "pool: out of memory for %d threads", threads);
    }
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
  free(p->workers);
  free(p);
  return ivm_error(IVM_ERR_INTERNAL, "pool: cannot create its mutex or condition variables");
}

/* Starts the workers on first use. A thread that cannot be created leaves the pool with
 * fewer workers: the work still gets done, by the threads there are. */
static void start_workers(rt_pool *p) {
  p->start_gen = atomic_load(&p->state) >> ST_GEN_SHIFT;
  while (p->started < p->threads - 1) {
    if (pthread_create(&p->workers[p->started], NULL, worker_main, p)) {
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
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->started; i++) pthread_join(p->workers[i], NULL);
  pthread_cond_destroy(&p->idle);
  pthread_cond_destroy(&p->wake);
  pthread_mutex_destroy(&p->mu);
  free(p->workers);
  free(p);
}

int rt_pool_threads(const rt_pool *p) { return p ? p->threads : 1; }

void rt_pool_for(rt_pool *p, int64_t n, int64_t grain, rt_pool_task fn, void *ctx) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  int64_t n_ranges = n / grain + (n % grain != 0);
  if (!p || p->threads < 2 || n_ranges < 2 || in_task) {
    fn(ctx, 0, n);
    return;
  }
  if (p->started < p->threads - 1 && !p->start_failed) start_workers(p);
  if (p->started == 0) {
    fn(ctx, 0, n);
    return;
  }

  /* Publish: the job's fields, then the new generation (open, no one active). */
  p->fn = fn;
  p->ctx = ctx;
  p->n = n;
  p->grain = grain;
  p->n_ranges = n_ranges;
  atomic_store_explicit(&p->next, 0, memory_order_relaxed);
  uint64_t gen = (atomic_load(&p->state) >> ST_GEN_SHIFT) + 1;
  atomic_store(&p->state, gen << ST_GEN_SHIFT);
  if (atomic_load(&p->sleepers) > 0) {
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
  }

  run_ranges(p);

  /* Close the job, then wait for the workers still in it. */
  uint64_t s = atomic_fetch_or(&p->state, ST_CLOSED) | ST_CLOSED;
  if (s & ST_ACTIVE_MASK) {
    uint64_t t0 = now_ns();
    for (unsigned i = 1; atomic_load_explicit(&p->state, memory_order_acquire) & ST_ACTIVE_MASK;
         i++) {
      CPU_RELAX();
      if ((i & 255) == 0 && now_ns() - t0 > SPIN_NS) break;
    }
    if (atomic_load(&p->state) & ST_ACTIVE_MASK) {
      pthread_mutex_lock(&p->mu);
      atomic_store(&p->caller_sleeps, 1);
      while (atomic_load(&p->state) & ST_ACTIVE_MASK) pthread_cond_wait(&p->idle, &p->mu);
      atomic_store(&p->caller_sleeps, 0);
      pthread_mutex_unlock(&p->mu);
    }
  }
}
