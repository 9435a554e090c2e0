/* The CPU worker pool behind intra-op parallelism: a kernel splits its work into
 * independent ranges and every thread (the caller included) takes ranges from a shared
 * counter until none are left. A session owns one pool (ivm_session_options.threads);
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
 * on the calling thread and the workers and returns when every range is done. Ranges
 * must be independent. Not reentrant: a task must not call rt_pool_for on the same pool
 * (nested calls run inline). */
typedef void (*rt_pool_task)(void *ctx, int64_t begin, int64_t end);
void rt_pool_for(rt_pool *pool, int64_t n, int64_t grain, rt_pool_task fn, void *ctx);

#endif
