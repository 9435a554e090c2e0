/* The CPU worker pool: inter-op parallelism (rt_pool_serve: every thread takes ready
 * instructions from the scheduler, runtime/sched.h) and intra-op parallelism
 * (rt_pool_for: a kernel splits its work into independent ranges; the caller takes them
 * in order from the front and idle threads from the back until none are left, so each
 * thread's share is contiguous and as large as its speed allows). A session owns one pool (ivm_session_options.threads);
 * kernels reach it through call->scratch->pool, which is NULL outside sessions (constant
 * folding, tests) and then everything runs inline on the caller.
 *
 * Small work must not pay for threads: rt_pool_for runs inline when the pool has one
 * thread or when n / grain gives a single range. */
#ifndef IVM_RUNTIME_POOL_H
#define IVM_RUNTIME_POOL_H

#include <stdint.h>

#include "isa/status.h"

typedef struct rt_pool rt_pool;

/* threads: total threads including the caller (>= 1); 0 = the number of online cores.
 * threads - 1 workers start on the first rt_pool_for that needs them (a tiny model never
 * creates a thread); they spin briefly, then sleep, while there is no work. */
ivm_status rt_pool_create(int threads, rt_pool **out);
void rt_pool_destroy(rt_pool *pool); /* NULL is fine */
int rt_pool_threads(const rt_pool *pool); /* 1 for NULL */

/* fn(ctx, begin, end) over [0, n) split into ranges of about `grain` items (>= 1); runs
 * on the calling thread and idle threads of the pool and returns when every range is
 * done. Ranges must be independent. A range's own rt_pool_for calls run inline. Several
 * threads of one rt_pool_serve may each have a job open at once (one slot per thread). */
typedef void (*rt_pool_task)(void *ctx, int64_t begin, int64_t end);
void rt_pool_for(rt_pool *pool, int64_t n, int64_t grain, rt_pool_task fn, void *ctx);

/* Work that every thread of the pool takes part in until `done` is set: next(ctx, lane)
 * runs one unit of work on the calling thread and returns 1, or returns 0 when none is
 * ready now. lane: 0 for the thread that called rt_pool_serve, 1..threads-1 for the
 * workers, so a unit can use per-thread buffers. Whoever sets `done` must do so after
 * its last unit finished. Threads with nothing ready help with the jobs that running
 * units publish through rt_pool_for. */
typedef struct rt_pool_server {
  int (*next)(void *ctx, int lane);
  void *ctx;
  _Atomic int done;
} rt_pool_server;

/* Runs `server` on the caller (lane 0) and every worker; returns once done is set and no
 * worker is still inside. A pool of one thread (or NULL) runs it on the caller alone. */
void rt_pool_serve(rt_pool *pool, rt_pool_server *server);

#endif
