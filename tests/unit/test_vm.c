/* The embedding API end to end on examples/cnn: compile, load, run on several threads
 * sharing one module, the host allocator hook, and argument errors. The expected output
 * was computed independently with numpy (examples/cnn/make_model.py). */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ivm/ivm.h"

#define EX IVM_TEST_DATA "/../../examples/cnn/"

static void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

static ivm_module *load_example(const ivm_load_options *opts) {
  void *bytes;
  size_t size;
  ivm_compile_report rep;
  ok(ivm_compile_onnx_file(EX "model.onnx", &bytes, &size, &rep));
  cr_assert(rep.arena_bytes > 0 && rep.arena_bytes <= rep.unplanned_bytes);
  ivm_module *m;
  ok(ivm_module_load_memory(bytes, size, 1, opts, &m));
  return m;
}

static void run_and_check(ivm_module *m, const ivm_session_options *so) {
  ivm_host_tensor x, want;
  ok(ivm_host_tensor_read_file(EX "input.npy", &x));
  ok(ivm_host_tensor_read_file(EX "expected_probs.npy", &want));
  ivm_session *s;
  ok(ivm_session_create(m, so, &s));
  for (int rep = 0; rep < 3; rep++) {
    ok(ivm_session_bind_input(s, 0, x.dtype, x.rank, x.dims, x.data, x.nbytes));
    ok(ivm_session_run(s));
    ivm_tensor_view v;
    ok(ivm_session_output(s, 0, &v));
    cr_assert_eq(v.dtype, IVM_DT_F32);
    cr_assert_eq(v.rank, 2);
    cr_assert_eq(v.dims[1], 10);
    const float *g = v.data, *w = want.data;
    for (int i = 0; i < 10; i++) cr_assert(fabsf(g[i] - w[i]) < 1e-5f, "probs[%d] %g vs %g", i, g[i], w[i]);
  }
  ivm_session_destroy(s);
  ivm_host_tensor_free(&x);
  ivm_host_tensor_free(&want);
}

Test(vm, example_matches_numpy) {
  ivm_module *m = load_example(NULL);
  cr_assert_eq(ivm_module_input_count(m), 1);
  ivm_tensor_info info;
  ok(ivm_module_input_info(m, 0, &info));
  cr_assert_str_eq(info.name, "image");
  cr_assert_eq(info.rank, 4);
  uint32_t idx;
  ok(ivm_module_find_input(m, "image", &idx));
  cr_assert_eq(idx, 0);
  ivm_status st = ivm_module_find_input(m, "nope", &idx);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_NOT_FOUND);
  ivm_status_free(st);
  run_and_check(m, NULL);
  ivm_module_release(m);
}

static void *thread_main(void *arg) {
  run_and_check(arg, NULL);
  return NULL;
}

Test(vm, sessions_on_many_threads_share_a_module) {
  ivm_module *m = load_example(NULL);
  pthread_t t[4];
  for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, thread_main, m);
  for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
  ivm_module_release(m);
}

typedef struct counting {
  long allocs, frees;
  long fail_after; /* < 0: never */
} counting;

static void *count_alloc(void *ctx, size_t size, size_t align) {
  counting *c = ctx;
  if (c->fail_after >= 0 && c->allocs >= c->fail_after) return NULL;
  c->allocs++;
  return aligned_alloc(align, (size + align - 1) / align * align);
}

static void count_free(void *ctx, void *p) {
  counting *c = ctx;
  if (p) c->frees++;
  free(p);
}

Test(vm, host_allocator_is_used_and_failures_are_reported) {
  counting c = {0, 0, -1};
  ivm_session_options so = {{&c, count_alloc, count_free}, 0, IVM_SCHEDULE_AUTO};
  ivm_module *m = load_example(NULL);
  run_and_check(m, &so);
  cr_assert(c.allocs > 0, "the session allocated nothing through the hook");
  cr_assert_eq(c.allocs, c.frees);
  for (long k = 0; k < c.allocs; k++) {
    counting f = {0, 0, k};
    ivm_session_options fo = {{&f, count_alloc, count_free}, 0, IVM_SCHEDULE_AUTO};
    ivm_session *s = NULL;
    ivm_status st = ivm_session_create(m, &fo, &s);
    if (st) {
      cr_assert_eq(ivm_status_get_code(st), IVM_ERR_OUT_OF_MEMORY);
      ivm_status_free(st);
    } else {
      ivm_session_destroy(s);
    }
    cr_assert_eq(f.allocs, f.frees, "leak after failing allocation %ld", k);
  }
  ivm_module_release(m);
}

Test(vm, bind_errors) {
  ivm_module *m = load_example(NULL);
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  float buf[28 * 28];
  memset(buf, 0, sizeof buf);
  int64_t dims[4] = {1, 1, 28, 28}, bad[4] = {1, 1, 28, 27};
  ivm_status st = ivm_session_run(s);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT); /* not bound */
  cr_assert(strstr(ivm_status_message(st), "image"));
  ivm_status_free(st);
  st = ivm_session_bind_input(s, 0, IVM_DT_F32, 4, bad, buf, 28 * 27 * 4);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  st = ivm_session_bind_input(s, 0, IVM_DT_F64, 4, dims, buf, sizeof buf);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  st = ivm_session_bind_input(s, 0, IVM_DT_F32, 4, dims, buf, sizeof buf - 4);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  st = ivm_session_bind_input(s, 5, IVM_DT_F32, 4, dims, buf, sizeof buf);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  ivm_tensor_view v;
  st = ivm_session_output(s, 0, &v);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT); /* not run yet */
  ivm_status_free(st);
  ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 4, dims, buf, sizeof buf));
  ok(ivm_session_run(s));
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(vm, load_errors) {
  ivm_module *m = NULL;
  ivm_status st = ivm_module_load_file("/nonexistent/x.ivm", NULL, &m);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_NOT_FOUND);
  cr_assert(strstr(ivm_status_message(st), "/nonexistent/x.ivm"));
  ivm_status_free(st);
  static const char junk[64] = "definitely not an ivm module";
  st = ivm_module_load_memory(junk, sizeof junk, 0, NULL, &m);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_FORMAT);
  ivm_status_free(st);
  cr_assert_null(m);
}
