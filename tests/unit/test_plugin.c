/* C plugins through the public API: the example Swish plugin loads only when the host
 * allows it, computes x * sigmoid(beta * x) (checked against libm), and plugins that are
 * built for another ABI, export malformed descriptors, claim a reserved domain, export no
 * entry point or fail in init are refused with a message, never a crash. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ivm/ivm.h"
#include "runtime/rt.h"

#define PLUGIN(name) IVM_TEST_PLUGIN_DIR "/" name
#define SWISH PLUGIN("libswish_plugin.so")
#define BAD(kind) IVM_TEST_PLUGIN_DIR "/tests/libbad_plugin_" kind ".so"
#define MODEL IVM_EXAMPLES "/custom-ops/plugin/model.onnx"

static void ok(ivm_status st) {
  cr_assert(st == NULL, "unexpected error: %s", ivm_status_message(st));
}

/* Expects failure with `code` and a message containing `needle`. */
static void fails(ivm_status st, ivm_status_code code, const char *needle) {
  cr_assert_not_null(st, "expected an error containing '%s'", needle);
  cr_assert_eq(ivm_status_get_code(st), code, "code %s: %s", ivm_status_code_name(ivm_status_get_code(st)),
               ivm_status_message(st));
  cr_assert(strstr(ivm_status_message(st), needle), "message '%s' lacks '%s'",
            ivm_status_message(st), needle);
  ivm_status_free(st);
}

static ivm_status compile_with(const char *plugin, void **bytes, size_t *size) {
  const char *allow[] = {plugin};
  ivm_compile_options co = {allow, plugin ? 1 : 0, NULL, 0};
  return ivm_compile_onnx_file_opts(MODEL, &co, bytes, size, NULL);
}

Test(plugin, swish_runs_only_when_allowed) {
  void *bytes;
  size_t size;
  fails(compile_with(NULL, &bytes, &size), IVM_ERR_NOT_FOUND, "--allow-plugin");
  ok(compile_with(SWISH, &bytes, &size));
  ivm_module *m = NULL;
  fails(ivm_module_load_memory(bytes, size, 0, NULL, &m), IVM_ERR_NOT_FOUND, "com.example.Swish");
  const char *allow[] = {SWISH};
  ivm_load_options lo;
  memset(&lo, 0, sizeof lo);
  lo.allow_plugins = allow;
  lo.n_allow_plugins = 1;
  ok(ivm_module_load_memory(bytes, size, 0, &lo, &m));
  ivm_free(bytes);
  ivm_session *s;
  ok(ivm_session_create(m, NULL, &s));
  float x[16];
  for (int i = 0; i < 16; i++) x[i] = (float)(i - 8) * 0.75f;
  int64_t dims[2] = {2, 8};
  ok(ivm_session_bind_input(s, 0, IVM_DT_F32, 2, dims, x, sizeof x));
  ok(ivm_session_run(s));
  ivm_tensor_view v;
  ok(ivm_session_output(s, 0, &v));
  const float *y = v.data;
  for (int i = 0; i < 16; i++) { /* the model: y = Swish(x, beta=1.5) + x */
    double want = x[i] / (1 + exp(-1.5 * x[i])) + x[i];
    cr_assert(fabs(y[i] - want) <= 1e-5 * (1 + fabs(want)), "y[%d] = %g, want %g", i, y[i], want);
  }
  ivm_session_destroy(s);
  ivm_module_release(m);
}

Test(plugin, allowing_twice_and_loading_twice_is_harmless) {
  isa_registry *reg;
  ok(rt_registry_create_builtin(&reg));
  ok(rt_plugin_add_to_registry(SWISH, reg));
  ok(rt_plugin_add_to_registry(SWISH, reg));
  const isa_registry_entry *e = isa_registry_find(reg, "com.example", "Swish", 1);
  cr_assert_not_null(e);
  cr_assert_eq(e->desc->kind, ISA_OP_KIND_PLUGIN);
  isa_registry_destroy(reg);
}

static void refused(const char *path, ivm_status_code code, const char *needle) {
  isa_registry *reg;
  ok(rt_registry_create_builtin(&reg));
  uint32_t before = isa_registry_count(reg);
  fails(rt_plugin_add_to_registry(path, reg), code, needle);
  cr_assert_eq(isa_registry_count(reg), before, "a refused plugin must add nothing");
  isa_registry_destroy(reg);
}

Test(plugin, another_abi_is_refused) {
  refused(BAD("abi"), IVM_ERR_UNSUPPORTED, "built for plugin ABI 99; this IVM supports ABI 1");
}
Test(plugin, registering_for_another_abi_is_refused) {
  refused(BAD("regabi"), IVM_ERR_UNSUPPORTED, "plugin ABI 2");
}
Test(plugin, malformed_descriptor_is_refused) {
  refused(BAD("desc"), IVM_ERR_INVALID_ARGUMENT, "com.test.Broken: inconsistent arity");
}
Test(plugin, reserved_domain_is_refused) {
  refused(BAD("domain"), IVM_ERR_INVALID_ARGUMENT, "domain 'ivm' is reserved");
}
Test(plugin, library_without_entry_point_is_refused) {
  refused(BAD("noentry"), IVM_ERR_FORMAT, "is not an IVM plugin");
}
Test(plugin, failing_init_is_reported) {
  refused(BAD("initfail"), IVM_ERR_RUNTIME, "no licence for this op");
}
Test(plugin, missing_file_is_reported) {
  refused(PLUGIN("no_such_plugin.so"), IVM_ERR_NOT_FOUND, "no such file");
}
