/* Helpers shared by the kernel-family unit tests: build rt_tensors over test data, run a
 * built-in op through rt_run_builtin (inference, then the kernel) and compare results. */
#ifndef IVM_TESTS_KERNEL_TEST_UTIL_H
#define IVM_TESTS_KERNEL_TEST_UTIL_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "runtime/rt.h"

#define D(...) ((const int64_t[]){__VA_ARGS__})

static inline rt_tensor mk(int dt, int rank, const int64_t *dims, const void *data) {
  rt_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = (uint8_t)dt;
  t.rank = (uint8_t)rank;
  for (int k = 0; k < rank; k++) t.dims[k] = dims[k];
  t.data = (void *)data;
  t.capacity = rt_nbytes(&t);
  return t;
}

static inline isa_attr *defaults(isa_builtin_op op, isa_attr *buf) {
  isa_attrs_init_defaults(isa_builtin_desc(op), buf);
  return buf;
}

static inline void set_int(isa_attr *a, int64_t v) {
  a->v.i = v;
  a->present = 1;
}

static inline void set_ints(isa_attr *a, const int64_t *v, uint32_t n) {
  a->v.ints = v;
  a->count = n;
  a->present = 1;
}

static inline void set_str(isa_attr *a, const char *s) {
  a->v.s = s;
  a->count = (uint32_t)strlen(s);
  a->present = 1;
}

static inline void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

static inline void fails(ivm_status st, ivm_status_code code) {
  cr_assert(st != NULL, "expected an error");
  cr_assert_eq(ivm_status_get_code(st), code, "got %s: %s",
               ivm_status_code_name(ivm_status_get_code(st)), ivm_status_message(st));
  ivm_status_free(st);
}

static inline ivm_status run(isa_builtin_op op, uint32_t n_in, const rt_tensor *const *in,
                      const isa_attr *attrs, uint32_t n_out, rt_tensor *out) {
  isa_attr def[16];
  if (!attrs) attrs = defaults(op, def);
  return rt_run_builtin(op, n_in, in, attrs, n_out, out);
}

static inline void shape_is(const rt_tensor *t, int dt, int rank, const int64_t *dims) {
  cr_assert_eq(t->dtype, dt, "dtype %d, expected %d", t->dtype, dt);
  cr_assert_eq(t->rank, rank, "rank %d, expected %d", t->rank, rank);
  for (int k = 0; k < rank; k++)
    cr_assert_eq(t->dims[k], dims[k], "dim %d is %lld, expected %lld", k, (long long)t->dims[k],
                 (long long)dims[k]);
}

static inline void f32_is(const rt_tensor *t, const float *want, size_t n) {
  cr_assert_eq(rt_numel(t), (int64_t)n, "numel %lld, expected %zu", (long long)rt_numel(t), n);
  const float *g = t->data;
  for (size_t i = 0; i < n; i++)
    cr_assert(fabsf(g[i] - want[i]) <= 1e-6f * (1 + fabsf(want[i])), "[%zu] = %g, expected %g", i,
              g[i], want[i]);
}

static inline void i64_is(const rt_tensor *t, const int64_t *want, size_t n) {
  cr_assert_eq(rt_numel(t), (int64_t)n, "numel %lld, expected %zu", (long long)rt_numel(t), n);
  const int64_t *g = t->data;
  for (size_t i = 0; i < n; i++)
    cr_assert_eq(g[i], want[i], "[%zu] = %lld, expected %lld", i, (long long)g[i], (long long)want[i]);
}

#endif
