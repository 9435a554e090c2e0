/* The op registry and the built-in op table: lookups by qualified name + version,
 * registration at run time, refusal of duplicates and malformed descriptors. */
#include <criterion/criterion.h>
#include <string.h>

#include "isa/op.h"
#include "runtime/rt.h"

static ivm_status infer_same(isa_infer_ctx *ctx) {
  ctx->out[0] = ctx->in[0];
  return NULL;
}

static const isa_attr_schema swish_attrs[] = {{"beta", ISA_ATTR_FLOAT, 0, {.f = 1.0f}}};
static const isa_op_desc swish = {"com.example", "Swish", 1, 1, 1, 1, 1, ISA_OPF_ELEMENTWISE,
                                  ISA_OP_KIND_PLUGIN, 1, swish_attrs, infer_same,
                                  "Y := X * sigmoid(beta * X)", "Swish activation."};

Test(registry, builtins_are_registered_with_kernels) {
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  cr_assert_eq(isa_registry_count(reg), ISA_OP_COUNT);
  const isa_registry_entry *e = isa_registry_find(reg, "ivm", "Conv", 1);
  cr_assert_not_null(e);
  cr_assert_eq(e->desc, isa_builtin_desc(ISA_OP_Conv));
  cr_assert_eq(((const rt_op_impl *)e->impl)->kernel, rt_k_Conv);
  cr_assert_null(isa_registry_find(reg, "ivm", "Conv", 2), "wrong version must not match");
  cr_assert_null(isa_registry_find(reg, "", "Conv", 1), "wrong domain must not match");
  cr_assert_null(isa_registry_find(reg, "ivm", "conv", 1), "names are case-sensitive");
  isa_registry_destroy(reg);
}

Test(registry, runtime_registration_and_duplicates) {
  isa_registry *reg;
  cr_assert_null(rt_registry_create_builtin(&reg));
  static const int impl = 42;
  cr_assert_null(isa_registry_add(reg, &swish, &impl));
  const isa_registry_entry *e = isa_registry_find(reg, "com.example", "Swish", 1);
  cr_assert_not_null(e);
  cr_assert_eq(e->impl, &impl);
  ivm_status st = isa_registry_add(reg, &swish, &impl);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(ivm_status_message(st), "com.example.Swish"), "%s", ivm_status_message(st));
  ivm_status_free(st);
  isa_op_desc v2 = swish;
  v2.version = 2; /* another version of the same op is a different op */
  cr_assert_null(isa_registry_add(reg, &v2, &impl));
  isa_registry_destroy(reg);
}

Test(registry, malformed_descriptors_are_refused) {
  isa_registry *reg;
  cr_assert_null(isa_registry_create(&reg));
  isa_op_desc d = swish;
  d.name = "bad name";
  ivm_status st = isa_registry_add(reg, &d, NULL);
  cr_assert_eq(ivm_status_get_code(st), IVM_ERR_INVALID_ARGUMENT);
  ivm_status_free(st);
  d = swish;
  d.min_in = 3; /* min > max */
  st = isa_registry_add(reg, &d, NULL);
  cr_assert_not_null(st);
  ivm_status_free(st);
  d = swish;
  d.infer = NULL;
  st = isa_registry_add(reg, &d, NULL);
  cr_assert_not_null(st);
  ivm_status_free(st);
  static const isa_attr_schema dup[] = {{"a", ISA_ATTR_INT, 0, {.i = 0}},
                                        {"a", ISA_ATTR_INT, 0, {.i = 0}}};
  d = swish;
  d.n_attrs = 2;
  d.attrs = dup;
  st = isa_registry_add(reg, &d, NULL);
  cr_assert(st && strstr(ivm_status_message(st), "twice"));
  ivm_status_free(st);
  st = isa_registry_add(reg, NULL, NULL);
  cr_assert_not_null(st);
  ivm_status_free(st);
  cr_assert_eq(isa_registry_count(reg), 0);
  isa_registry_destroy(reg);
}

Test(registry, op_table_schemas_and_defaults) {
  const isa_op_desc *conv = isa_builtin_desc(ISA_OP_Conv);
  cr_assert_str_eq(conv->name, "Conv");
  cr_assert_str_eq(conv->domain, "ivm");
  cr_assert_eq(isa_attr_index(conv, "group"), ISA_A_Conv_group);
  cr_assert_eq(isa_attr_index(conv, "nope"), -1);
  isa_attr slots[16];
  isa_attrs_init_defaults(conv, slots);
  cr_assert_eq(slots[ISA_A_Conv_group].v.i, 1);
  cr_assert_str_eq(slots[ISA_A_Conv_auto_pad].v.s, "NOTSET");
  cr_assert_eq(slots[ISA_A_Conv_pads].count, 0);
  cr_assert_null(isa_builtin_desc(ISA_OP_COUNT));
  for (int op = 0; op < ISA_OP_COUNT; op++) {
    const isa_op_desc *d = isa_builtin_desc((isa_builtin_op)op);
    ivm_status st = isa_op_desc_check(d);
    cr_assert_null(st, "%s: %s", d->name, ivm_status_message(st));
    cr_assert(d->synopsis && d->synopsis[0] && d->doc && d->doc[0], "%s lacks docs", d->name);
    cr_assert_leq(d->n_attrs, 16, "%s has more attributes than the compiler holds", d->name);
  }
}
