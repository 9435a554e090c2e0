/* DYNAMIC tensors (shapes known only at run time) share storage: each goes back to the
 * session's pool after its last reader, a run with shapes seen before allocates nothing,
 * and values read inside a loop survive every iteration. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "isa/module.h"
#include "ivm/ivm.h"

/* y = |-(relu(-(relu(x))))| over a symbolic length n: four intermediates. */
static const char *chain =
    "ivm 1.0\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "symbol $0 \"n\"\n"
    "import #0 = ivm.Relu@1\n"
    "import #1 = ivm.Neg@1\n"
    "import #2 = ivm.Abs@1\n"
    "tensor %0 \"x\" f32[n] dynamic\n"
    "tensor %1 \"a\" f32[n] dynamic\n"
    "tensor %2 \"b\" f32[n] dynamic\n"
    "tensor %3 \"c\" f32[n] dynamic\n"
    "tensor %4 \"d\" f32[n] dynamic\n"
    "tensor %5 \"y\" f32[n] dynamic\n"
    "inputs %0\n"
    "outputs %5\n"
    "%1 = Relu %0\n"
    "%2 = Neg %1\n"
    "%3 = Relu %2\n"
    "%4 = Neg %3\n"
    "%5 = Abs %4\n";

typedef struct counting {
  long allocs, frees, bytes;
} counting;

static void *count_alloc(void *ctx, size_t size, size_t align) {
  counting *c = ctx;
  c->allocs++;
  c->bytes += (long)size;
  return aligned_alloc(align, (size + align - 1) / align * align);
}

static void count_free(void *ctx, void *p) {
  counting *c = ctx;
  if (p) c->frees++;
  free(p);
}

static void ok(ivm_status st) { cr_assert_null(st, "%s", ivm_status_message(st)); }

static void run_chain(ivm_session *s, int64_t n) {
  float *x = malloc((size_t)n * sizeof *x);
  for (int64_t i = 0; i < n; i++) x[i] = (float)(i % 7) - 3.0f;
  ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 1, &n, x, (size_t)n * sizeof *x));
  ok(ivm_session_run(s));
  ivm_tensor_view v;
  ok(ivm_session_output(s, 0, &v));
  cr_assert_eq(v.rank, 1);
  cr_assert_eq(v.dims[0], n);
  const float *y = v.data;
  /* relu(-(relu x)) is 0 everywhere, so y == 0 */
  for (int64_t i = 0; i < n; i++) cr_assert_eq(y[i], 0.0f, "y[%lld] = %g", (long long)i, y[i]);
  free(x);
}

Test(pool, dynamic_tensors_reuse_storage_and_steady_state_allocates_nothing) {
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(chain, strlen(chain), "chain.ivs", &bytes, &size));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  counting c = {0, 0, 0};
  ivm_session_options so = {{&c, count_alloc, count_free}, 0, IVM_SCHEDULE_AUTO};
  ivm_session *s;
  ok(ivm_session_create(m, &so, &s));
  long after_create = c.allocs, bytes_after_create = c.bytes;
  const int64_t n = 100000;
  run_chain(s, n);
  long first = c.allocs - after_create;
  /* x and y are held by the host side and the output; a, b, c, d are never live more
   * than two at a time, so the pool needs 2 blocks (plus its block table), not 4. */
  long dynamic_bytes = c.bytes - bytes_after_create;
  cr_assert_lt(dynamic_bytes, 5 * n * 4, "dynamic storage %ld bytes: no reuse", dynamic_bytes);
  cr_assert_leq(first, 6, "first run allocated %ld times", first);
  long before = c.allocs;
  run_chain(s, n);
  cr_assert_eq(c.allocs, before, "a second run with the same shape allocated");
  run_chain(s, 17); /* smaller: fits in the blocks already there */
  cr_assert_eq(c.allocs, before, "a smaller run allocated");
  run_chain(s, 3 * n); /* larger: blocks grow, results stay right */
  ivm_session_destroy(s);
  cr_assert_eq(c.allocs, c.frees);
  ivm_module_release(m);
}

/* k is computed before the loop and read by every iteration: its storage must not go
 * back to the pool until the loop is done. acc = k + M * k with k = -x. */
static const char *loop =
    "ivm 1.0\n"
    "plan arena_size=0 unplanned_size=0 arena_align=64\n"
    "import #0 = ivm.Copy@1\n"
    "import #1 = ivm.LoopBegin@1\n"
    "import #2 = ivm.LoopEnd@1\n"
    "import #3 = ivm.Add@1\n"
    "import #4 = ivm.Neg@1\n"
    "tensor %0 \"M\" i64[] dynamic\n"
    "tensor %1 \"x\" f32[] dynamic\n"
    "tensor %2 \"acc\" f32[] dynamic var\n"
    "tensor %3 \"i\" i64[] dynamic var\n"
    "tensor %4 \"k\" f32[] dynamic\n"
    "tensor %5 \"acc_next\" f32[] dynamic\n"
    "tensor %6 \"j\" f32[] dynamic\n"
    "inputs %0 %1\n"
    "outputs %2\n"
    "%4 = Neg %1\n"
    "%2 = Copy %4\n"
    "%3 = LoopBegin %0 {end_at=6}\n"
    "  %6 = Neg %4\n"
    "  %5 = Add %2 %4\n"
    "  %2 = Copy %5\n"
    "= LoopEnd {begin_at=2}\n";

Test(pool, values_read_inside_a_loop_live_until_it_ends) {
  uint8_t *bytes;
  size_t size;
  ok(isa_assemble(loop, strlen(loop), "loop.ivs", &bytes, &size));
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, NULL, &m));
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  for (int64_t trips = 0; trips < 5; trips++) {
    float x = -2.0f;
    ok(ivm_session_bind_input(s, 0, IVM_DT_I64, 0, NULL, &trips, sizeof trips));
    ok(ivm_session_bind_input(s, 1, IVM_DT_F32, 0, NULL, &x, sizeof x));
    ok(ivm_session_run(s));
    ivm_tensor_view v;
    ok(ivm_session_output(s, 0, &v));
    cr_assert_eq(*(const float *)v.data, 2.0f + 2.0f * (float)trips, "%lld trips: %g",
                 (long long)trips, *(const float *)v.data);
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}
