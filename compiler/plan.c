/* Arena memory planner: greedy best-fit over live intervals. Items are placed largest
 * first; each goes into the smallest gap between the blocks of items whose lifetimes
 * overlap its own (or after the last of them). */
#include <stdlib.h>
#include <string.h>

#include "compiler/cc.h"

typedef struct span {
  uint64_t lo, hi;
} span;

static int cmp_span(const void *a, const void *b) {
  const span *x = a, *y = b;
  return x->lo < y->lo ? -1 : x->lo > y->lo ? 1 : 0;
}

typedef struct order_key {
  uint64_t size;
  uint32_t first, idx;
} order_key;

static int cmp_order(const void *a, const void *b) {
  const order_key *x = a, *y = b;
  if (x->size != y->size) return x->size > y->size ? -1 : 1;
  if (x->first != y->first) return x->first < y->first ? -1 : 1;
  return x->idx < y->idx ? -1 : x->idx > y->idx ? 1 : 0; /* deterministic */
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

ivm_status cc_plan_arena(cc_plan_item *items, uint32_t n, uint32_t align, uint64_t *arena_size,
                         uint64_t *unplanned_size) {
  *arena_size = 0;
  *unplanned_size = 0;
  if (align == 0 || (align & (align - 1)))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "planner: alignment %u is not a power of two", align);
  if (n == 0) return NULL;
  order_key *order = malloc(n * sizeof *order);
  uint8_t *placed = calloc(n, 1);
  span *spans = malloc(n * sizeof *spans);
  if (!order || !placed || !spans) {
    free(order);
    free(placed);
    free(spans);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "planner: out of memory");
  }
  uint64_t unplanned = 0, arena = 0;
  for (uint32_t i = 0; i < n; i++) {
    order[i].size = items[i].size;
    order[i].first = items[i].first;
    order[i].idx = i;
    unplanned += align_up(items[i].size, align);
  }
  qsort(order, n, sizeof *order, cmp_order);
  for (uint32_t oi = 0; oi < n; oi++) {
    cc_plan_item *it = &items[order[oi].idx];
    uint64_t size = align_up(it->size ? it->size : 1, align);
    uint32_t ns = 0;
    for (uint32_t j = 0; j < n; j++) {
      if (!placed[j]) continue;
      const cc_plan_item *o = &items[j];
      if (o->last < it->first || it->last < o->first) continue; /* disjoint lifetimes */
      spans[ns].lo = o->offset;
      spans[ns].hi = o->offset + align_up(o->size ? o->size : 1, align);
      ns++;
    }
    qsort(spans, ns, sizeof *spans, cmp_span);
    uint64_t best = UINT64_MAX, best_gap = UINT64_MAX, cur = 0;
    for (uint32_t k = 0; k < ns; k++) {
      if (spans[k].lo > cur) {
        uint64_t gap = spans[k].lo - cur;
        if (gap >= size && gap < best_gap) {
          best_gap = gap;
          best = cur;
        }
      }
      if (spans[k].hi > cur) cur = spans[k].hi;
    }
    if (best == UINT64_MAX) best = cur;
    it->offset = best;
    placed[order[oi].idx] = 1;
    if (best + size > arena) arena = best + size;
  }
  free(order);
  free(placed);
  free(spans);
  *arena_size = arena;
  *unplanned_size = unplanned;
  return NULL;
}
