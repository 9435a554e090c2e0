/* C plugins (include/ivm/ivm_plugin.h). A plugin is opened once per process, on the
 * first load whose host allows its path; the ops it registers are kept in a private
 * registry and copied into each allowing module's registry. Plugins are never unloaded:
 * modules and the descriptors' schema point into them. */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

#include "runtime/rt.h"

typedef struct rt_plugin {
  char *path; /* realpath */
  isa_registry *ops;
  struct rt_plugin *next;
} rt_plugin;

typedef struct plugin_op {
  isa_op_desc desc;
  rt_op_impl impl;
} plugin_op;

/* What one plugin's init registers, before it is accepted. */
typedef struct plugin_loading {
  const char *path;
  isa_registry *ops;
  plugin_op **owned;
  uint32_t n_owned;
} plugin_loading;

static once_flag plugins_once = ONCE_FLAG_INIT;
static mtx_t plugins_lock;
static rt_plugin *plugins;

static void plugins_init(void) { mtx_init(&plugins_lock, mtx_plain); }

static int reserved_domain(const char *d) {
  return !*d || strcmp(d, "ai.onnx") == 0 || strcmp(d, ISA_DOMAIN_BUILTIN) == 0 ||
         strncmp(d, ISA_DOMAIN_BUILTIN ".", strlen(ISA_DOMAIN_BUILTIN) + 1) == 0;
}

static ivm_status host_add_op(const ivm_plugin_host *host, uint32_t plugin_abi,
                              const ivm_op_desc *desc, ivm_kernel_fn kernel) {
  plugin_loading *pl = host->registry;
  if (plugin_abi != IVM_PLUGIN_ABI_VERSION)
    return ivm_error(IVM_ERR_UNSUPPORTED,
                     "op %s registered for plugin ABI %u; this IVM supports ABI %u",
                     desc && desc->name ? desc->name : "?", plugin_abi, IVM_PLUGIN_ABI_VERSION);
  IVM_TRY(isa_op_desc_check(desc));
  if (reserved_domain(desc->domain))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "op %s.%s: domain '%s' is reserved (ai.onnx and ivm*); use your own, "
                     "e.g. com.example", desc->domain, desc->name, desc->domain);
  if (desc->version == 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: version must be >= 1", desc->domain,
                     desc->name);
  if (desc->flags & (ISA_OPF_CONTROL | ISA_OPF_SEQ))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "op %s.%s: flags 0x%x use bits reserved for IVM's own ops", desc->domain,
                     desc->name, (unsigned)desc->flags);
  if (desc->min_out == 0)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: an op needs at least one output",
                     desc->domain, desc->name);
  if (!kernel)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: no kernel", desc->domain, desc->name);
  for (uint16_t i = 0; i < desc->n_attrs; i++) {
    const isa_attr_schema *s = &desc->attrs[i];
    if (s->type == ISA_ATTR_STRING && !s->required && !s->def.s)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "op %s.%s: string attribute '%s' has no default",
                       desc->domain, desc->name, s->name);
  }
  plugin_op **owned = realloc(pl->owned, (pl->n_owned + 1) * sizeof *owned);
  if (!owned) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "plugin %s: out of memory", pl->path);
  pl->owned = owned;
  plugin_op *op = calloc(1, sizeof *op);
  if (!op) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "plugin %s: out of memory", pl->path);
  op->desc = *desc;
  op->desc.kind = ISA_OP_KIND_PLUGIN;
  op->impl.kernel = kernel;
  pl->owned[pl->n_owned++] = op;
  return isa_registry_add(pl->ops, &op->desc, &op->impl);
}

static ivm_status host_scratch(const ivm_kernel_call *call, size_t bytes, void **out) {
  if (!call || !call->scratch || !out)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "scratch: NULL argument");
  return rt_scratch_get(call->scratch, bytes, out);
}

/* Opens the plugin and runs its init into a fresh private registry. */
static ivm_status plugin_open(const char *path, const char *real, rt_plugin **out) {
  *out = NULL;
  void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
  if (!h) return ivm_error(IVM_ERR_NOT_FOUND, "cannot load plugin %s: %s", path, dlerror());
  const uint32_t *abi = dlsym(h, "ivm_plugin_abi");
  void *init_sym = dlsym(h, "ivm_plugin_init");
  if (!abi || !init_sym) {
    dlclose(h);
    return ivm_error(IVM_ERR_FORMAT,
                     "%s is not an IVM plugin: it does not export %s (see "
                     "include/ivm/ivm_plugin.h: IVM_PLUGIN_DECLARE and ivm_plugin_init)",
                     path, abi ? "ivm_plugin_init" : "ivm_plugin_abi");
  }
  if (*abi != IVM_PLUGIN_ABI_VERSION) {
    uint32_t v = *abi;
    dlclose(h);
    return ivm_error(IVM_ERR_UNSUPPORTED,
                     "plugin %s was built for plugin ABI %u; this IVM supports ABI %u: "
                     "rebuild it against this IVM's include/ivm/ivm_plugin.h",
                     path, v, IVM_PLUGIN_ABI_VERSION);
  }
  ivm_status (*init)(const ivm_plugin_host *, uint32_t);
  memcpy(&init, &init_sym, sizeof init); /* dlsym's object pointer to a function pointer */
  plugin_loading pl = {path, NULL, NULL, 0};
  ivm_status st = isa_registry_create(&pl.ops);
  if (st) return st; /* keep h: a plugin is never unloaded once its code may have run */
  ivm_plugin_host host = {IVM_PLUGIN_ABI_VERSION, &pl, host_add_op, ivm_status_create,
                          host_scratch, ivm_dtype_name};
  st = init(&host, IVM_PLUGIN_ABI_VERSION);
  if (!st && isa_registry_count(pl.ops) == 0)
    st = ivm_error(IVM_ERR_FORMAT, "registers no ops");
  rt_plugin *p = NULL;
  if (!st) {
    p = calloc(1, sizeof *p);
    if (p) p->path = strdup(real);
    if (!p || !p->path) st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "out of memory");
  }
  if (st) {
    if (p) free(p->path);
    free(p);
    isa_registry_destroy(pl.ops);
    for (uint32_t i = 0; i < pl.n_owned; i++) free(pl.owned[i]);
    free(pl.owned);
    return ivm_status_wrap(st, "plugin %s", path);
  }
  /* The op records live as long as the process, like the plugin's code. */
  free(pl.owned);
  p->ops = pl.ops;
  *out = p;
  return NULL;
}

ivm_status rt_plugin_add_to_registry(const char *path, isa_registry *reg) {
  char real[PATH_MAX];
  if (!path || !realpath(path, real))
    return ivm_error(IVM_ERR_NOT_FOUND, "plugin %s: no such file", path ? path : "(null)");
  call_once(&plugins_once, plugins_init);
  mtx_lock(&plugins_lock);
  rt_plugin *p = plugins;
  while (p && strcmp(p->path, real) != 0) p = p->next;
  ivm_status st = NULL;
  if (!p) {
    st = plugin_open(path, real, &p);
    if (!st) {
      p->next = plugins;
      plugins = p;
    }
  }
  mtx_unlock(&plugins_lock);
  if (st) return st;
  for (uint32_t i = 0; i < isa_registry_count(p->ops); i++) {
    const isa_registry_entry *e = isa_registry_at(p->ops, i);
    const isa_registry_entry *prior =
        isa_registry_find(reg, e->desc->domain, e->desc->name, e->desc->version);
    if (prior && prior->desc == e->desc) continue; /* the same plugin allowed twice */
    if (prior)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "plugin %s: op %s.%s version %u is already provided by %s", path,
                       e->desc->domain, e->desc->name, e->desc->version,
                       isa_op_kind_name(prior->desc->kind));
    IVM_TRY(isa_registry_add(reg, e->desc, e->impl));
  }
  return NULL;
}
