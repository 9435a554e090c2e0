/* Memory planner: liveness intervals never share memory; reuse makes the arena smaller
 * than the sum of the tensors. */
#include <criterion/criterion.h>

#include "compiler/cc.h"

static void check_no_overlap(const cc_plan_item *it, uint32_t n, uint64_t arena) {
  for (uint32_t i = 0; i < n; i++) {
    cr_expect_eq(it[i].offset % 64, 0, "item %u offset %llu not 64-aligned", i,
                 (unsigned long long)it[i].offset);
    cr_expect_leq(it[i].offset + it[i].size, arena, "item %u beyond the arena", i);
    for (uint32_t j = i + 1; j < n; j++) {
      int live_together = !(it[i].last < it[j].first || it[j].last < it[i].first);
      int mem_overlap = it[i].offset < it[j].offset + it[j].size &&
                        it[j].offset < it[i].offset + it[i].size;
      cr_expect(!(live_together && mem_overlap), "items %u and %u overlap while both live", i, j);
    }
  }
}

/* x -> A -> t1 -> B -> t2 -> C -> t3 -> D -> y: each tensor dies one step after birth. */
Test(planner, chain) {
  cc_plan_item it[5] = {
      {1000, 0, 0, 0}, /* x: graph input, used by instr 0 */
      {1000, 0, 1, 0}, /* t1 */
      {1000, 1, 2, 0}, /* t2 */
      {1000, 2, 3, 0}, /* t3 */
      {1000, 3, 4, 0}, /* y: graph output, live to the end (n_instrs = 4) */
  };
  uint64_t arena, unplanned;
  cr_assert_null(cc_plan_arena(it, 5, 64, &arena, &unplanned));
  check_no_overlap(it, 5, arena);
  /* 1000 rounds to 1024; five tensors without reuse, two buffers with ping-pong. */
  cr_expect_eq(unplanned, 5 * 1024);
  cr_expect_eq(arena, 2 * 1024);
}

/* Diamond: x -> A -> a; x -> B -> b; (a, b) -> C -> c; c -> D -> y. */
Test(planner, diamond) {
  cc_plan_item it[5] = {
      {4096, 0, 1, 0},  /* x: used by A (0) and B (1) */
      {256, 0, 2, 0},   /* a: made by A, used by C (2) */
      {512, 1, 2, 0},   /* b: made by B, used by C */
      {4096, 2, 3, 0},  /* c */
      {100, 3, 4, 0},   /* y: output */
  };
  uint64_t arena, unplanned;
  cr_assert_null(cc_plan_arena(it, 5, 64, &arena, &unplanned));
  check_no_overlap(it, 5, arena);
  cr_expect_eq(unplanned, 4096 + 256 + 512 + 4096 + 128);
  cr_expect_lt(arena, unplanned);
  /* c can take x's place once x is dead: the arena needs at most x + a + b. */
  cr_expect_leq(arena, 4096 + 256 + 512);
}

Test(planner, empty_and_bad_alignment) {
  uint64_t arena = 1, unplanned = 1;
  cr_assert_null(cc_plan_arena(NULL, 0, 64, &arena, &unplanned));
  cr_expect_eq(arena, 0);
  cr_expect_eq(unplanned, 0);
  cc_plan_item it[1] = {{8, 0, 0, 0}};
  ivm_status st = cc_plan_arena(it, 1, 48, &arena, &unplanned);
  cr_assert_not_null(st);
  cr_expect_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
}

/* Many tensors with random-ish lifetimes: the invariant holds. */
Test(planner, many) {
  enum { N = 200 };
  cc_plan_item it[N];
  uint32_t seed = 12345;
  for (int i = 0; i < N; i++) {
    seed = seed * 1103515245u + 12345u;
    uint32_t first = (seed >> 8) % 100;
    seed = seed * 1103515245u + 12345u;
    uint32_t len = (seed >> 8) % 10;
    seed = seed * 1103515245u + 12345u;
    it[i].size = 1 + (seed >> 8) % 5000;
    it[i].first = first;
    it[i].last = first + len;
    it[i].offset = 0;
  }
  uint64_t arena, unplanned;
  cr_assert_null(cc_plan_arena(it, N, 64, &arena, &unplanned));
  check_no_overlap(it, N, arena);
  cr_expect_lt(arena, unplanned);
}
