/* Arena memory planner: greedy best-fit over live intervals. Items are placed largest
 * first; each goes into the smallest gap between the blocks of items whose lifetimes
 * overlap its own (or after the last of them).
 *
 * With a dependency order (cc_plan_order), two items also conflict when the dependency
 * graph does not order them: the scheduler (runtime/sched.h) may run independent
 * instructions at once, and storage shared by two values that could be live at the same
 * time would force it back into program order (it adds an edge for every reuse). */
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

struct cc_plan_order {
  uint32_t n_instrs, n_tensors;
  size_t words;        /* per instruction's ancestor bitset */
  uint64_t *anc;       /* anc[i]: instructions that must finish before i starts */
  uint32_t *producer;  /* per tensor; UINT32_MAX: none (an input, a constant) */
  uint32_t *rstart, *readers; /* per tensor: the instructions reading it */
};

#define NONE UINT32_MAX
/* Past this many instructions the bitsets (n^2 / 8 bytes) cost more than they save. */
#define ORDER_MAX_INSTRS 8192

void cc_plan_order_free(cc_plan_order *o) {
  if (!o) return;
  free(o->anc);
  free(o->producer);
  free(o->rstart);
  free(o->readers);
  free(o);
}

ivm_status cc_plan_order_build(const isa_def_instr *instrs, uint32_t n_instrs,
                               uint32_t n_tensors, cc_plan_order **out) {
  *out = NULL;
  if (n_instrs == 0 || n_instrs > ORDER_MAX_INSTRS) return NULL;
  cc_plan_order *o = calloc(1, sizeof *o);
  if (!o) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "planner: out of memory");
  o->n_instrs = n_instrs;
  o->n_tensors = n_tensors;
  o->words = (n_instrs + 63) / 64;
  size_t n_reads = 0;
  for (uint32_t i = 0; i < n_instrs; i++) n_reads += instrs[i].n_in;
  o->anc = calloc((size_t)n_instrs * o->words, sizeof *o->anc);
  o->producer = malloc(((size_t)n_tensors + 1) * sizeof *o->producer);
  o->rstart = calloc((size_t)n_tensors + 2, sizeof *o->rstart);
  o->readers = malloc((n_reads + 1) * sizeof *o->readers);
  if (!o->anc || !o->producer || !o->rstart || !o->readers) {
    cc_plan_order_free(o);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "planner: out of memory for the dependency order");
  }
  for (uint32_t t = 0; t < n_tensors; t++) o->producer[t] = NONE;
  for (uint32_t i = 0; i < n_instrs; i++) {
    uint64_t *ai = o->anc + (size_t)i * o->words;
    for (uint32_t k = 0; k < instrs[i].n_in; k++) {
      uint32_t t = instrs[i].operands[k];
      if (t == ISA_NO_TENSOR || t >= n_tensors) continue;
      o->rstart[t + 1]++;
      uint32_t p = o->producer[t];
      if (p == NONE) continue;
      const uint64_t *ap = o->anc + (size_t)p * o->words;
      for (size_t w = 0; w < o->words; w++) ai[w] |= ap[w];
      ai[p / 64] |= (uint64_t)1 << (p % 64);
    }
    for (uint32_t k = 0; k < instrs[i].n_out; k++) {
      uint32_t t = instrs[i].operands[instrs[i].n_in + k];
      if (t != ISA_NO_TENSOR && t < n_tensors && o->producer[t] == NONE) o->producer[t] = i;
    }
  }
  for (uint32_t t = 0; t < n_tensors; t++) o->rstart[t + 1] += o->rstart[t];
  uint32_t *fill = calloc((size_t)n_tensors + 1, sizeof *fill);
  if (!fill) {
    cc_plan_order_free(o);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "planner: out of memory");
  }
  for (uint32_t i = 0; i < n_instrs; i++)
    for (uint32_t k = 0; k < instrs[i].n_in; k++) {
      uint32_t t = instrs[i].operands[k];
      if (t == ISA_NO_TENSOR || t >= n_tensors) continue;
      o->readers[o->rstart[t] + fill[t]++] = i;
    }
  free(fill);
  *out = o;
  return NULL;
}

static int is_ancestor(const cc_plan_order *o, uint32_t a, uint32_t of) {
  return (o->anc[(size_t)of * o->words + a / 64] >> (a % 64)) & 1;
}

/* Whether every use of tensor a (its readers, or its producer if none) must finish
 * before tensor b's producer starts, in every schedule. */
static int ordered_before(const cc_plan_order *o, uint32_t a, uint32_t b) {
  uint32_t p = o->producer[b];
  if (p == NONE) return 0;
  if (o->rstart[a] == o->rstart[a + 1])
    return o->producer[a] != NONE && is_ancestor(o, o->producer[a], p);
  for (uint32_t r = o->rstart[a]; r < o->rstart[a + 1]; r++)
    if (!is_ancestor(o, o->readers[r], p)) return 0;
  return 1;
}

ivm_status cc_plan_arena(cc_plan_item *items, uint32_t n, uint32_t align, uint64_t *arena_size,
                         uint64_t *unplanned_size) {
  return cc_plan_arena_ordered(items, n, NULL, NULL, align, arena_size, unplanned_size);
}

ivm_status cc_plan_arena_ordered(cc_plan_item *items, uint32_t n, const uint32_t *item_tensor,
                                 const cc_plan_order *deps, uint32_t align,
                                 uint64_t *arena_size, uint64_t *unplanned_size) {
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
      if (o->last < it->first || it->last < o->first) { /* disjoint lifetimes */
        if (!deps) continue;
        uint32_t ta = item_tensor[j], tb = item_tensor[order[oi].idx];
        if (o->last < it->first ? ordered_before(deps, ta, tb) : ordered_before(deps, tb, ta))
          continue;
      }
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
