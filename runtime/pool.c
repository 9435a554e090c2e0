/* Placeholder worker pool: runs everything inline on the caller (being written). */
#include <stdlib.h>

#include "runtime/pool.h"

struct rt_pool {
  int threads;
};

ivm_status rt_pool_create(int threads, rt_pool **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "pool: out of memory");
  (*out)->threads = threads < 1 ? 1 : threads;
  return NULL;
}

void rt_pool_destroy(rt_pool *pool) { free(pool); }

int rt_pool_threads(const rt_pool *pool) { return pool ? pool->threads : 1; }

void rt_pool_for(rt_pool *pool, int64_t n, int64_t grain, rt_pool_task fn, void *ctx) {
  (void)pool;
  (void)grain;
  if (n > 0) fn(ctx, 0, n);
}
