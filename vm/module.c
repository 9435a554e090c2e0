/* Loading: mmap (or borrow) the bytes, open and verify them, then prepare each
 * instruction once: kernel pointer and decoded attributes. After this the module is
 * immutable and shared. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <threads.h>
#include <unistd.h>

#include "vm/vm.h"

#ifndef IVM_JIT_BUILD_DIR
#define IVM_JIT_BUILD_DIR "."
#endif

static _Atomic(const vm_jit_backend *) jit_backend;

void vm_register_jit_backend(const vm_jit_backend *backend) { atomic_store(&jit_backend, backend); }

/* The JIT lives in libivm_jit.so, opened the first time a module asks for it (opening it
 * runs its constructor, which registers the backend). Where: $IVM_JIT_LIBRARY, else next
 * to the object holding this code (libivm.so, or a statically linked program), else the
 * build tree. */
static once_flag jit_once = ONCE_FLAG_INIT;
static char jit_error[1024];

static void open_jit_library(void) {
  char path[4096], tried[900] = "";
  const char *env = getenv("IVM_JIT_LIBRARY");
  const char *dirs[2] = {NULL, IVM_JIT_BUILD_DIR};
  Dl_info info;
  char self[4096] = "";
  if (dladdr((void *)&open_jit_library, &info) && info.dli_fname) {
    snprintf(self, sizeof self, "%s", info.dli_fname);
    char *slash = strrchr(self, '/');
    if (slash) *slash = 0;
    else snprintf(self, sizeof self, ".");
    dirs[0] = self;
  }
  for (int k = env && *env ? -1 : 0; k < 2 && !atomic_load(&jit_backend); k++) {
    if (k >= 0 && !dirs[k]) continue;
    if (k < 0) snprintf(path, sizeof path, "%s", env);
    else snprintf(path, sizeof path, "%s/libivm_jit.so", dirs[k]);
    if (dlopen(path, RTLD_NOW | RTLD_LOCAL)) continue; /* its constructor registered */
    size_t used = strlen(tried);
    snprintf(tried + used, sizeof tried - used, "%s%s", used ? "; " : "", dlerror());
    if (k < 0) break; /* an explicit path is the only one tried */
  }
  if (!atomic_load(&jit_backend))
    snprintf(jit_error, sizeof jit_error, "the JIT backend is not available (%s)",
             tried[0] ? tried : "libivm_jit.so registered nothing");
}

static ivm_status get_jit_backend(const vm_jit_backend **out) {
  *out = atomic_load(&jit_backend);
  if (*out) return NULL;
  call_once(&jit_once, open_jit_library);
  *out = atomic_load(&jit_backend);
  return *out ? NULL : ivm_error(IVM_ERR_UNSUPPORTED, "%s", jit_error);
}

static once_flag registry_once = ONCE_FLAG_INIT;
static isa_registry *builtin_registry;
static ivm_status builtin_registry_status;

static void create_builtin_registry(void) {
  builtin_registry_status = rt_registry_create_builtin(&builtin_registry);
}

ivm_status vm_builtin_registry(const isa_registry **out) {
  call_once(&registry_once, create_builtin_registry);
  if (builtin_registry_status)
    return ivm_error(ivm_status_get_code(builtin_registry_status), "%s",
                     ivm_status_message(builtin_registry_status));
  *out = builtin_registry;
  return NULL;
}

void vm_instr_context(const ivm_module *m, uint32_t i, char *buf, size_t size) {
  const vm_instr *in = &m->instrs[i];
  const char *node = m->view.debug ? isa_module_str(&m->view, m->view.debug[i]) : "";
  if (node[0])
    snprintf(buf, size, "instruction %u (%s, node '%s')", i, in->desc->name, node);
  else
    snprintf(buf, size, "instruction %u (%s)", i, in->desc->name);
}

static void module_free(ivm_module *m) {
  if (!m) return;
  const vm_jit_backend *jb = atomic_load(&jit_backend);
  if (m->jit && jb) jb->release(m);
  for (uint32_t i = 0; m->impls && i < m->view.n_instrs; i++)
    if (m->impls[i] && m->impls[i]->release && m->instrs[i].state)
      m->impls[i]->release((void *)m->instrs[i].state);
  free(m->impls);
  isa_registry_destroy(m->registry_own);
  rt_free(&m->allocator, m->instrs);
  rt_free(&m->allocator, m->attr_slots);
  rt_free(&m->allocator, m->release_start);
  rt_free(&m->allocator, m->release_list);
  free(m->pooled);
  if (m->map) munmap(m->map, m->map_size);
  free(m->owned);
  free(m->what);
  rt_free(&m->allocator, m);
}

/* The module's own registry: the process's built-ins, the plugins the host allowed, and
 * one instance of the ivm.ffi / ivm.expr family per op name the module imports. A missing
 * op is reported here, with how to provide it. */
static ivm_status build_registry(ivm_module *m, const ivm_load_options *opts) {
  const isa_registry *builtin;
  IVM_TRY(vm_builtin_registry(&builtin));
  IVM_TRY(isa_registry_create_child(builtin, &m->registry_own));
  m->registry = m->registry_own;
  for (uint32_t k = 0; opts && k < opts->n_allow_plugins; k++)
    IVM_TRY(ivm_status_wrap(rt_plugin_add_to_registry(opts->allow_plugins[k], m->registry_own),
                            "%s", m->what));
  const isa_module *v = &m->view;
  for (uint32_t k = 0; k < v->n_imports; k++) {
    const isa_import_rec *imp = &v->imports[k];
    const char *dom = isa_module_str(v, imp->domain), *name = isa_module_str(v, imp->name);
    if (isa_registry_resolve(m->registry_own, dom, name, imp->version)) continue;
    if (strcmp(dom, ISA_DOMAIN_BUILTIN) == 0 || strncmp(dom, "ivm.", 4) == 0)
      return ivm_error(IVM_ERR_NOT_FOUND,
                       "%s: import #%u: op %s.%s version %u is not provided by this IVM",
                       m->what, k, dom, name, imp->version);
    return ivm_error(IVM_ERR_NOT_FOUND,
                     "%s: import #%u: op %s.%s version %u is not registered; if a plugin "
                     "provides it, allow the plugin with --allow-plugin PATH (API: "
                     "ivm_load_options.allow_plugins)",
                     m->what, k, dom, name, imp->version);
  }
  return NULL;
}

static void static_type(const isa_module *v, uint32_t t, isa_type *out) {
  memset(out, 0, sizeof *out);
  if (t == ISA_NO_TENSOR) return;
  const isa_tensor_rec *r = &v->tensors[t];
  out->dtype = r->dtype;
  out->vkind = (uint8_t)ISA_TF_VKIND(r->flags);
  out->rank = (r->flags & ISA_TF_RANK_UNKNOWN) ? -1 : (int8_t)r->rank;
  for (int k = 0; k < out->rank; k++) out->dims[k] = v->dims[r->dims + k];
}

/* Runs the op's prepare hook (FFI symbol resolution, expression parsing) once. */
static ivm_status prepare_state(ivm_module *m, uint32_t i, const rt_op_impl *impl,
                                const ivm_load_options *opts) {
  const isa_module *v = &m->view;
  vm_instr *in = &m->instrs[i];
  isa_type types[2 * 64];
  if ((uint32_t)in->n_in + in->n_out > sizeof types / sizeof types[0])
    return ivm_error(IVM_ERR_UNSUPPORTED, "%s: instruction %u has too many operands", m->what, i);
  for (uint32_t k = 0; k < (uint32_t)in->n_in + in->n_out; k++)
    static_type(v, in->operands[k], &types[k]);
  char where[320], ctx_buf[256];
  vm_instr_context(m, i, ctx_buf, sizeof ctx_buf);
  snprintf(where, sizeof where, "%s: %s", m->what, ctx_buf);
  rt_permissions perm = {opts ? opts->allow_ffi : NULL, opts ? opts->n_allow_ffi : 0};
  rt_prepare_ctx ctx = {in->desc, in->attrs, in->n_in, in->n_out, types, types + in->n_in,
                        &perm, where};
  void *state = NULL;
  ivm_status st = impl->prepare(&ctx, &state);
  if (st) {
    if (state && impl->release) impl->release(state);
    return st;
  }
  in->state = state;
  m->impls[i] = impl;
  return NULL;
}

static ivm_status prepare(ivm_module *m, const ivm_load_options *opts) {
  const isa_module *v = &m->view;
  uint32_t n_slots = 0;
  const isa_registry_entry **entries =
      calloc(v->n_imports ? v->n_imports : 1, sizeof *entries);
  m->impls = calloc(v->n_instrs ? v->n_instrs : 1, sizeof *m->impls);
  if (!entries || !m->impls) {
    free(entries);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", m->what);
  }
  ivm_status st = NULL;
  for (uint32_t k = 0; k < v->n_imports; k++) {
    const isa_import_rec *imp = &v->imports[k];
    entries[k] = isa_registry_find(m->registry, isa_module_str(v, imp->domain),
                                   isa_module_str(v, imp->name), imp->version);
    if (!entries[k]) { /* build_registry reports this first; keep a guard anyway */
      st = ivm_error(IVM_ERR_NOT_FOUND, "%s: op %s.%s version %u is not registered", m->what,
                     isa_module_str(v, imp->domain), isa_module_str(v, imp->name),
                     imp->version);
      goto done;
    }
  }
  for (uint32_t i = 0; i < v->n_instrs; i++) n_slots += entries[v->code[i].op]->desc->n_attrs;
  m->instrs = rt_alloc(&m->allocator, (v->n_instrs ? v->n_instrs : 1) * sizeof *m->instrs, 64);
  m->attr_slots = rt_alloc(&m->allocator, (n_slots ? n_slots : 1) * sizeof *m->attr_slots, 64);
  if (!m->instrs || !m->attr_slots) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory preparing instructions", m->what);
    goto done;
  }
  memset(m->instrs, 0, (v->n_instrs ? v->n_instrs : 1) * sizeof *m->instrs);
  uint32_t slot = 0;
  for (uint32_t i = 0; i < v->n_instrs; i++) {
    const isa_instr_rec *rec = &v->code[i];
    const isa_registry_entry *e = entries[rec->op];
    const rt_op_impl *impl = e->impl;
    vm_instr *in = &m->instrs[i];
    in->desc = e->desc;
    in->kernel = impl->kernel;
    in->state = NULL;
    in->attrs = &m->attr_slots[slot];
    in->operands = &v->operands[rec->operands];
    in->n_in = rec->n_in;
    in->n_out = rec->n_out;
    in->needs_infer = 0;
    in->ctl = VM_CTL_NONE;
    in->target = 0;
    if (e->desc->flags & ISA_OPF_CONTROL) {
      static const struct { isa_builtin_op op; uint8_t ctl; } ctl_ops[] = {
          {ISA_OP_IfThen, VM_CTL_IF},          {ISA_OP_Else, VM_CTL_ELSE},
          {ISA_OP_EndIf, VM_CTL_ENDIF},        {ISA_OP_LoopBegin, VM_CTL_LOOP},
          {ISA_OP_LoopEnd, VM_CTL_LOOPEND},    {ISA_OP_ScanInit, VM_CTL_SCANINIT},
          {ISA_OP_ScanAppend, VM_CTL_SCANAPPEND},
      };
      for (size_t k = 0; k < sizeof ctl_ops / sizeof ctl_ops[0]; k++)
        if (e->desc == isa_builtin_desc(ctl_ops[k].op)) in->ctl = ctl_ops[k].ctl;
    }
    if (e->desc->flags & ISA_OPF_SEQ) in->ctl = VM_CTL_SEQ; /* vm/seq.c */
    for (uint32_t k = 0; k < (uint32_t)rec->n_in + rec->n_out; k++) {
      uint32_t t = in->operands[k];
      if (t != ISA_NO_TENSOR && v->tensors[t].kind == ISA_TK_DYNAMIC) in->needs_infer = 1;
    }
    if ((uint32_t)rec->n_in + rec->n_out > m->max_operands)
      m->max_operands = (uint32_t)rec->n_in + rec->n_out;
    st = isa_module_decode_attrs(v, i, e->desc, &m->attr_slots[slot]);
    if (st) {
      st = ivm_status_wrap(st, "%s", m->what);
      goto done;
    }
    if (in->ctl == VM_CTL_IF || in->ctl == VM_CTL_ELSE || in->ctl == VM_CTL_LOOP ||
        in->ctl == VM_CTL_LOOPEND)
      in->target = (uint32_t)in->attrs[0].v.i; /* checked by the verifier's structure pass */
    slot += e->desc->n_attrs;
    if (impl->prepare) {
      st = prepare_state(m, i, impl, opts);
      if (st) goto done;
    }
  }
done:
  free(entries);
  return st;
}

/* How far a load goes. VERIFY: stop after the verifier (tools that check a module without
 * running it need the plugins its ops come from, but no FFI permission and no JIT).
 * CHECK_CONSTS: also checksum the constant data (ivm verify, or check_constants). */
enum { LOAD_RUN = 0, LOAD_VERIFY = 1, LOAD_CHECK_CONSTS = 2 };

static ivm_status module_init(ivm_module *m, const ivm_load_options *opts, int mode) {
  const void *bytes = m->map ? m->map : m->owned;
  int verify_only = mode & LOAD_VERIFY;
  IVM_TRY(isa_module_open(bytes, m->map ? m->map_size : m->view.size, m->what, &m->view));
  if ((mode & LOAD_CHECK_CONSTS) || (opts && opts->check_constants))
    IVM_TRY(isa_module_check_consts(&m->view, m->what));
  IVM_TRY(build_registry(m, opts));
  IVM_TRY(isa_module_verify(&m->view, m->registry, m->what));
  if (verify_only) return NULL;
  IVM_TRY(prepare(m, opts));
  IVM_TRY(vm_plan_lifetimes(m));
  m->stats.backend = opts ? opts->backend : IVM_BACKEND_INTERP;
  if (m->stats.backend == IVM_BACKEND_JIT) {
    const vm_jit_backend *jb;
    IVM_TRY(ivm_status_wrap(get_jit_backend(&jb), "%s", m->what));
    IVM_TRY(jb->apply(m, opts));
  } else if (m->stats.backend != IVM_BACKEND_INTERP) {
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: unknown backend %d", m->what,
                     (int)m->stats.backend);
  }
  return NULL;
}

ivm_status ivm_module_get_stats(const ivm_module *m, ivm_module_stats *out) {
  if (!m || !out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "stats: NULL argument");
  *out = m->stats;
  return NULL;
}

static ivm_status module_new(const ivm_load_options *opts, const char *what, ivm_module **out) {
  ivm_allocator a = {0};
  if (opts && opts->allocator.alloc) a = opts->allocator;
  ivm_module *m = rt_alloc(&a, sizeof *m, 64);
  if (!m) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
  memset(m, 0, sizeof *m);
  atomic_init(&m->refs, 1);
  m->allocator = a;
  m->what = strdup(what);
  if (!m->what) {
    rt_free(&a, m);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory", what);
  }
  *out = m;
  return NULL;
}

static ivm_status load_file(const char *path, const ivm_load_options *opts, int mode,
                            ivm_module **out_module) {
  if (!path || !out_module) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "load: NULL argument");
  *out_module = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return ivm_error(errno == ENOENT ? IVM_ERR_NOT_FOUND : IVM_ERR_IO, "%s: cannot open: %s",
                     path, strerror(errno));
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    close(fd);
    return ivm_error(IVM_ERR_IO, "%s: not a regular file", path);
  }
  if (sb.st_size == 0) {
    close(fd);
    return ivm_error(IVM_ERR_FORMAT, "%s: empty file, not an IVM module", path);
  }
  void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (map == MAP_FAILED) return ivm_error(IVM_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
  ivm_module *m;
  ivm_status st = module_new(opts, path, &m);
  if (st) {
    munmap(map, (size_t)sb.st_size);
    return st;
  }
  m->map = map;
  m->map_size = (size_t)sb.st_size;
  m->view.size = m->map_size;
  st = module_init(m, opts, mode);
  if (st) {
    module_free(m);
    return st;
  }
  *out_module = m;
  return NULL;
}

static ivm_status load_memory(const void *data, size_t size, int take_ownership,
                              const ivm_load_options *opts, int mode,
                              ivm_module **out_module) {
  if (!data || !out_module) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "load: NULL argument");
  *out_module = NULL;
  ivm_module *m;
  IVM_TRY(module_new(opts, opts && opts->name ? opts->name : "<memory>", &m));
  if (((uintptr_t)data % ISA_CONST_ALIGN) == 0 && take_ownership) {
    m->owned = (void *)data;
  } else {
    /* Constants must be 64-byte aligned to be used in place: copy into aligned memory. */
    void *copy = aligned_alloc(ISA_CONST_ALIGN, (size + ISA_CONST_ALIGN - 1) / ISA_CONST_ALIGN * ISA_CONST_ALIGN);
    if (!copy) {
      module_free(m);
      return ivm_error(IVM_ERR_OUT_OF_MEMORY, "<memory>: cannot copy %zu bytes", size);
    }
    memcpy(copy, data, size);
    m->owned = copy;
    if (take_ownership) free((void *)data);
  }
  m->view.size = size;
  ivm_status st = module_init(m, opts, mode);
  if (st) {
    module_free(m);
    return st;
  }
  *out_module = m;
  return NULL;
}

ivm_status ivm_module_load_file(const char *path, const ivm_load_options *opts,
                                ivm_module **out_module) {
  return load_file(path, opts, LOAD_RUN, out_module);
}

ivm_status ivm_module_load_memory(const void *data, size_t size, int take_ownership,
                                  const ivm_load_options *opts, ivm_module **out_module) {
  return load_memory(data, size, take_ownership, opts, LOAD_RUN, out_module);
}

ivm_status vm_open_verified(const char *path, const ivm_load_options *opts, ivm_module **out) {
  return load_file(path, opts, LOAD_VERIFY, out);
}

ivm_status vm_verify_file(const char *path, const ivm_load_options *opts,
                          vm_verify_info *out_info) {
  ivm_module *m = NULL;
  IVM_TRY(load_file(path, opts, LOAD_VERIFY | LOAD_CHECK_CONSTS, &m));
  if (out_info) {
    out_info->n_instrs = m->view.n_instrs;
    out_info->n_tensors = m->view.n_tensors;
    out_info->n_inputs = m->view.n_inputs;
    out_info->n_outputs = m->view.n_outputs;
    out_info->arena_size = m->view.plan->arena_size;
  }
  module_free(m);
  return NULL;
}

ivm_status vm_verify_memory(const void *data, size_t size, const ivm_load_options *opts) {
  ivm_module *m = NULL;
  IVM_TRY(load_memory(data, size, 0, opts, LOAD_VERIFY | LOAD_CHECK_CONSTS, &m));
  module_free(m);
  return NULL;
}

void ivm_module_retain(ivm_module *m) {
  if (m) atomic_fetch_add(&m->refs, 1);
}

void ivm_module_release(ivm_module *m) {
  if (m && atomic_fetch_sub(&m->refs, 1) == 1) module_free(m);
}

uint32_t ivm_module_input_count(const ivm_module *m) { return m ? m->view.n_inputs : 0; }
uint32_t ivm_module_output_count(const ivm_module *m) { return m ? m->view.n_outputs : 0; }

static void tensor_info(const ivm_module *m, uint32_t t, ivm_tensor_info *out) {
  const isa_module *v = &m->view;
  const isa_tensor_rec *r = &v->tensors[t];
  memset(out, 0, sizeof *out);
  out->name = isa_module_str(v, r->name);
  out->dtype = (ivm_dtype)r->dtype;
  out->rank = (r->flags & ISA_TF_RANK_UNKNOWN) ? -1 : r->rank;
  out->kind = (ivm_value_kind)ISA_TF_VKIND(r->flags);
  for (int k = 0; k < out->rank; k++) {
    int64_t d = v->dims[r->dims + k];
    out->dims[k] = d;
    if (d <= ISA_DIM_SYM(0) && (uint64_t)ISA_DIM_SYM_INDEX(d) < v->n_symbols)
      out->dim_names[k] = isa_module_str(v, v->symbols[ISA_DIM_SYM_INDEX(d)]);
  }
}

ivm_status ivm_module_input_info(const ivm_module *m, uint32_t i, ivm_tensor_info *out) {
  if (!m || !out || i >= m->view.n_inputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input index %u out of range (%u inputs)", i,
                     m ? m->view.n_inputs : 0);
  tensor_info(m, m->view.inputs[i], out);
  return NULL;
}

ivm_status ivm_module_output_info(const ivm_module *m, uint32_t i, ivm_tensor_info *out) {
  if (!m || !out || i >= m->view.n_outputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output index %u out of range (%u outputs)", i,
                     m ? m->view.n_outputs : 0);
  tensor_info(m, m->view.outputs[i], out);
  return NULL;
}

ivm_status ivm_module_find_input(const ivm_module *m, const char *name, uint32_t *out) {
  for (uint32_t i = 0; m && name && i < m->view.n_inputs; i++) {
    if (strcmp(isa_module_str(&m->view, m->view.tensors[m->view.inputs[i]].name), name) == 0) {
      *out = i;
      return NULL;
    }
  }
  return ivm_error(IVM_ERR_NOT_FOUND, "no input named '%s'", name ? name : "(null)");
}

void ivm_free(void *p) { free(p); }
