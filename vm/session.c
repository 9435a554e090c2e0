/* Sessions: an arena from the memory plan, one rt_tensor per module tensor, and the
 * prepared calls the interpreter loop runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/pool.h"
#include "vm/schedule.h"
#include "vm/vm.h"

/* What a segment's scheduler nodes need to run their instructions. */
typedef struct segment_run {
  struct ivm_session *session;
  uint32_t first;
  rt_sched_cpu *cpu;
} segment_run;

struct ivm_session {
  ivm_module *module;
  ivm_allocator allocator;
  uint8_t *arena;
  rt_tensor *tensors;        /* one per module tensor */
  const rt_tensor **in_ptrs; /* all instructions' inputs, flattened */
  rt_tensor **out_ptrs;      /* all instructions' outputs, flattened */
  rt_call *calls;
  rt_scratch scratch;
  uint8_t *bound;            /* per graph input */
  isa_type *infer_in, *infer_out; /* run-time inference buffers (max_operands each) */
  const void **infer_data;
  int has_run;
  /* The pool of DYNAMIC tensor storage (see vm/lifetime.c): blocks are handed out at a
   * tensor's definition and come back after its last reader, and are kept across runs,
   * so a run with the shapes of an earlier one allocates nothing. */
  struct pool_block {
    void *data;
    size_t size;
    uint32_t owner; /* tensor index, or POOL_FREE */
  } *blocks;
  uint32_t n_blocks, cap_blocks;
  uint32_t *block_of; /* per tensor: its block, or POOL_FREE */
  /* Profiling (ivm_session_set_profiling): time and executions per instruction, summed
   * over runs until reset. NULL when off. */
  double *prof_ns;
  uint64_t *prof_count;
  /* The dependency-graph scheduler (vm/schedule.h): segments of the program it runs,
   * and one scratch buffer per pool thread (lane 0 is `scratch`), since instructions of a
   * segment run at once on different threads. */
  vm_schedule *schedule;
  segment_run *segment_runs;
  rt_scratch *lanes;
  int n_lanes;
};

static double now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

#define POOL_FREE UINT32_MAX

static void pool_release(ivm_session *s, uint32_t t) {
  uint32_t b = s->block_of[t];
  if (b == POOL_FREE) return;
  s->blocks[b].owner = POOL_FREE;
  s->block_of[t] = POOL_FREE;
  s->tensors[t].data = NULL;
  s->tensors[t].capacity = 0;
}

/* Best fit among the free blocks; else the largest free block grows; else a new one. */
static ivm_status pool_acquire(ivm_session *s, uint32_t t, size_t bytes) {
  if (bytes == 0) bytes = 1;
  uint32_t held = s->block_of[t];
  if (held != POOL_FREE && s->blocks[held].size >= bytes) return NULL;
  pool_release(s, t);
  uint32_t best = POOL_FREE, largest = POOL_FREE;
  for (uint32_t b = 0; b < s->n_blocks; b++) {
    struct pool_block *k = &s->blocks[b];
    if (k->owner != POOL_FREE) continue;
    if (k->size >= bytes && (best == POOL_FREE || k->size < s->blocks[best].size)) best = b;
    if (largest == POOL_FREE || k->size > s->blocks[largest].size) largest = b;
  }
  if (best == POOL_FREE && largest != POOL_FREE) {
    struct pool_block *k = &s->blocks[largest];
    rt_free(&s->allocator, k->data);
    k->data = rt_alloc(&s->allocator, bytes, 64);
    k->size = k->data ? bytes : 0;
    if (!k->data) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
    best = largest;
  }
  if (best == POOL_FREE) {
    if (s->n_blocks == s->cap_blocks) {
      uint32_t cap = s->cap_blocks ? s->cap_blocks * 2 : 16;
      struct pool_block *nb = rt_alloc(&s->allocator, cap * sizeof *nb, 64);
      if (!nb) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "session: out of memory");
      if (s->n_blocks) memcpy(nb, s->blocks, s->n_blocks * sizeof *nb);
      rt_free(&s->allocator, s->blocks);
      s->blocks = nb;
      s->cap_blocks = cap;
    }
    void *p = rt_alloc(&s->allocator, bytes, 64);
    if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
    best = s->n_blocks++;
    s->blocks[best].data = p;
    s->blocks[best].size = bytes;
  }
  s->blocks[best].owner = t;
  s->block_of[t] = best;
  s->tensors[t].data = s->blocks[best].data;
  s->tensors[t].capacity = s->blocks[best].size;
  return NULL;
}

static void set_static_shape(const isa_module *v, uint32_t t, rt_tensor *out) {
  const isa_tensor_rec *r = &v->tensors[t];
  out->dtype = r->dtype;
  out->rank = (r->flags & ISA_TF_RANK_UNKNOWN) ? 0 : r->rank;
  for (int k = 0; k < out->rank; k++) out->dims[k] = v->dims[r->dims + k];
}

void ivm_session_destroy(ivm_session *s) {
  if (!s) return;
  const ivm_allocator *a = &s->allocator;
  if (s->tensors) {
    for (uint32_t t = 0; t < s->module->view.n_tensors; t++) {
      const isa_tensor_rec *r = &s->module->view.tensors[t];
      if (r->kind != ISA_TK_DYNAMIC || s->module->pooled[t]) continue;
      if (r->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) vm_seq_free(a, s->tensors[t].data);
      rt_free(a, s->tensors[t].data);
    }
  }
  for (uint32_t b = 0; b < s->n_blocks; b++) rt_free(a, s->blocks[b].data);
  rt_free(a, s->blocks);
  rt_free(a, s->block_of);
  if (s->segment_runs)
    for (uint32_t k = 0; k < s->schedule->n_segments; k++) rt_sched_cpu_free(s->segment_runs[k].cpu);
  free(s->segment_runs);
  vm_schedule_free(s->schedule);
  for (int k = 1; k < s->n_lanes; k++) rt_scratch_release(&s->lanes[k]);
  free(s->lanes);
  rt_scratch_release(&s->scratch);
  rt_pool_destroy(s->scratch.pool);
  free(s->prof_ns);
  free(s->prof_count);
  rt_free(a, s->arena);
  rt_free(a, s->tensors);
  rt_free(a, s->in_ptrs);
  rt_free(a, s->out_ptrs);
  rt_free(a, s->calls);
  rt_free(a, s->bound);
  rt_free(a, s->infer_in);
  rt_free(a, s->infer_out);
  rt_free(a, s->infer_data);
  ivm_module_release(s->module);
  rt_free(a, s);
}

static ivm_status run_node(void *ctx, uint32_t node, int lane);

static ivm_status create_schedule(ivm_session *s, ivm_schedule mode) {
  int threads = rt_pool_threads(s->scratch.pool);
  IVM_TRY(vm_schedule_create(s->module, threads, mode, &s->schedule));
  uint32_t n = s->schedule->n_segments;
  if (!n) return NULL;
  s->lanes = calloc((size_t)threads, sizeof *s->lanes);
  s->segment_runs = calloc(n, sizeof *s->segment_runs);
  if (!s->lanes || !s->segment_runs)
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "session: out of memory for the schedule");
  s->n_lanes = threads;
  for (int k = 1; k < threads; k++) {
    s->lanes[k].allocator = &s->allocator;
    s->lanes[k].pool = s->scratch.pool;
  }
  for (uint32_t k = 0; k < n; k++) {
    segment_run *r = &s->segment_runs[k];
    r->session = s;
    r->first = s->schedule->segments[k].first;
    IVM_TRY(rt_sched_cpu_create(s->schedule->segments[k].graph, s->scratch.pool, run_node, r,
                                &r->cpu));
  }
  return NULL;
}

ivm_status ivm_session_create(ivm_module *m, const ivm_session_options *opts,
                              ivm_session **out_session) {
  if (!m || !out_session) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "session: NULL argument");
  *out_session = NULL;
  ivm_allocator a = m->allocator;
  if (opts && opts->allocator.alloc) a = opts->allocator;
  ivm_session *s = rt_alloc(&a, sizeof *s, 64);
  if (!s) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "session: out of memory");
  memset(s, 0, sizeof *s);
  s->allocator = a;
  s->scratch.allocator = &s->allocator;
  ivm_module_retain(m);
  s->module = m;
  if (opts && opts->threads < 0) {
    ivm_session_destroy(s);
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "session: threads must be >= 0 (0: one per core)");
  }
  ivm_status pst = rt_pool_create(opts ? opts->threads : 0, &s->scratch.pool);
  if (pst) {
    ivm_session_destroy(s);
    return pst;
  }
  if (opts && (opts->schedule < IVM_SCHEDULE_AUTO || opts->schedule > IVM_SCHEDULE_GRAPH)) {
    ivm_session_destroy(s);
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "session: unknown schedule %d", (int)opts->schedule);
  }
  pst = create_schedule(s, opts ? opts->schedule : IVM_SCHEDULE_AUTO);
  if (pst) {
    ivm_session_destroy(s);
    return pst;
  }
  const isa_module *v = &m->view;
  uint32_t n_in_ptrs = 0, n_out_ptrs = 0;
  for (uint32_t i = 0; i < v->n_instrs; i++) {
    n_in_ptrs += v->code[i].n_in;
    n_out_ptrs += v->code[i].n_out;
  }
  uint32_t maxop = m->max_operands ? m->max_operands : 1;
  s->arena = rt_alloc(&a, v->plan->arena_size ? v->plan->arena_size : 1, 64);
  s->tensors = rt_alloc(&a, (v->n_tensors ? v->n_tensors : 1) * sizeof *s->tensors, 64);
  s->in_ptrs = rt_alloc(&a, (n_in_ptrs ? n_in_ptrs : 1) * sizeof *s->in_ptrs, 64);
  s->out_ptrs = rt_alloc(&a, (n_out_ptrs ? n_out_ptrs : 1) * sizeof *s->out_ptrs, 64);
  s->calls = rt_alloc(&a, (v->n_instrs ? v->n_instrs : 1) * sizeof *s->calls, 64);
  s->bound = rt_alloc(&a, v->n_inputs ? v->n_inputs : 1, 64);
  s->infer_in = rt_alloc(&a, maxop * sizeof *s->infer_in, 64);
  s->infer_out = rt_alloc(&a, maxop * sizeof *s->infer_out, 64);
  s->infer_data = rt_alloc(&a, maxop * sizeof *s->infer_data, 64);
  s->block_of = rt_alloc(&a, (v->n_tensors ? v->n_tensors : 1) * sizeof *s->block_of, 64);
  if (!s->arena || !s->tensors || !s->in_ptrs || !s->out_ptrs || !s->calls || !s->bound ||
      !s->infer_in || !s->infer_out || !s->infer_data || !s->block_of) {
    ivm_session_destroy(s);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "session: cannot allocate %llu arena bytes",
                     (unsigned long long)v->plan->arena_size);
  }
  memset(s->tensors, 0, v->n_tensors * sizeof *s->tensors);
  for (uint32_t t = 0; t < v->n_tensors; t++) s->block_of[t] = POOL_FREE;
  memset(s->bound, 0, v->n_inputs ? v->n_inputs : 1);
  for (uint32_t t = 0; t < v->n_tensors; t++) {
    const isa_tensor_rec *r = &v->tensors[t];
    rt_tensor *x = &s->tensors[t];
    set_static_shape(v, t, x);
    if (r->kind == ISA_TK_CONST) {
      x->data = (void *)(v->consts + r->offset); /* read-only: kernels never write inputs */
      x->capacity = r->size;
    } else if (r->kind == ISA_TK_ARENA) {
      x->data = s->arena + r->offset;
      x->capacity = r->size;
    } else if (r->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) {
      vm_seq *q = rt_alloc(&a, sizeof *q, 64); /* a sequence / optional value (vm/seq.c) */
      if (!q) {
        ivm_session_destroy(s);
        return ivm_error(IVM_ERR_OUT_OF_MEMORY, "session: out of memory");
      }
      memset(q, 0, sizeof *q);
      q->has_value = !(r->flags & ISA_TF_OPTIONAL);
      x->data = q;
      x->capacity = 0;
    }
  }
  uint32_t pi = 0, po = 0;
  for (uint32_t i = 0; i < v->n_instrs; i++) {
    const vm_instr *in = &m->instrs[i];
    rt_call *c = &s->calls[i];
    c->n_in = in->n_in;
    c->n_out = in->n_out;
    c->in = &s->in_ptrs[pi];
    c->out = &s->out_ptrs[po];
    c->attrs = in->attrs;
    c->scratch = &s->scratch;
    c->state = in->state;
    for (uint32_t k = 0; k < in->n_in; k++) {
      uint32_t t = in->operands[k];
      s->in_ptrs[pi++] = t == ISA_NO_TENSOR ? NULL : &s->tensors[t];
    }
    for (uint32_t k = 0; k < in->n_out; k++) {
      uint32_t t = in->operands[in->n_in + k];
      s->out_ptrs[po++] = t == ISA_NO_TENSOR ? NULL : &s->tensors[t];
    }
  }
  *out_session = s;
  return NULL;
}

static ivm_status ensure_capacity(ivm_session *s, rt_tensor *x, size_t bytes) {
  if (bytes <= x->capacity && x->data) return NULL;
  rt_free(&s->allocator, x->data);
  x->data = rt_alloc(&s->allocator, bytes ? bytes : 1, 64);
  x->capacity = x->data ? bytes : 0;
  if (!x->data) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
  return NULL;
}

ivm_status ivm_session_bind_input(ivm_session *s, uint32_t index, ivm_dtype dtype, int32_t rank,
                                  const int64_t *dims, const void *data, size_t nbytes) {
  if (!s) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "bind: NULL session");
  const isa_module *v = &s->module->view;
  if (index >= v->n_inputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "bind: input index %u out of range (%u inputs)",
                     index, v->n_inputs);
  uint32_t t = v->inputs[index];
  const isa_tensor_rec *r = &v->tensors[t];
  const char *name = isa_module_str(v, r->name);
  if (r->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "input '%s' is a %s value: bind it with ivm_session_bind_sequence", name,
                     isa_vkind_name(ISA_TF_VKIND(r->flags)));
  if ((int)dtype != r->dtype)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': expected dtype %s, got %s", name,
                     ivm_dtype_name((ivm_dtype)r->dtype), ivm_dtype_name(dtype));
  if (rank < 0 || rank > IVM_MAX_RANK || (rank > 0 && !dims))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': bad rank %d", name, rank);
  int rank_known = !(r->flags & ISA_TF_RANK_UNKNOWN);
  if (rank_known && rank != r->rank)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': expected rank %u, got %d", name,
                     r->rank, rank);
  int64_t numel = 1;
  for (int k = 0; k < rank; k++) {
    if (dims[k] < 0)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': negative dim %d", name, k);
    int64_t want = rank_known ? v->dims[r->dims + k] : -1;
    if (want >= 0 && dims[k] != want)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                       "input '%s': dim %d is %lld, the module expects %lld", name, k,
                       (long long)dims[k], (long long)want);
    if (dims[k] && numel > INT64_MAX / dims[k])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': shape too large", name);
    numel *= dims[k];
  }
  size_t need = (size_t)numel * ivm_dtype_size(dtype);
  if (nbytes != need || (need && !data))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': %zu bytes given, shape needs %zu",
                     name, nbytes, need);
  rt_tensor *x = &s->tensors[t];
  if (r->kind == ISA_TK_DYNAMIC) IVM_TRY(ivm_status_wrap(ensure_capacity(s, x, need), "input '%s'", name));
  x->rank = (uint8_t)rank;
  for (int k = 0; k < rank; k++) x->dims[k] = dims[k];
  if (need) memcpy(x->data, data, need);
  s->bound[index] = 1;
  return NULL;
}

/* Re-runs inference with the actual shapes and values, then sizes DYNAMIC outputs and
 * checks that static outputs still agree (an input's run-time shape could differ from
 * what the module declared only where the module left it dynamic). */
static ivm_status infer_at_run_time(ivm_session *s, uint32_t i) {
  const vm_instr *in = &s->module->instrs[i];
  const rt_call *c = &s->calls[i];
  for (uint32_t k = 0; k < in->n_in; k++) {
    isa_type *ty = &s->infer_in[k];
    const rt_tensor *x = c->in[k];
    memset(ty, 0, sizeof *ty);
    s->infer_data[k] = NULL;
    if (!x) continue;
    ty->dtype = x->dtype;
    ty->rank = (int8_t)x->rank;
    memcpy(ty->dims, x->dims, sizeof ty->dims);
    s->infer_data[k] = x->data;
  }
  memset(s->infer_out, 0, in->n_out * sizeof *s->infer_out);
  isa_infer_ctx ctx = {in->n_in, s->infer_in, s->infer_data, in->attrs, in->n_out, s->infer_out};
  IVM_TRY(in->desc->infer(&ctx));
  const isa_module *v = &s->module->view;
  for (uint32_t k = 0; k < in->n_out; k++) {
    rt_tensor *x = c->out[k];
    if (!x) continue;
    const isa_type *ty = &s->infer_out[k];
    if (ty->rank < 0) return ivm_error(IVM_ERR_RUNTIME, "output %u: rank unknown at run time", k);
    for (int d = 0; d < ty->rank; d++)
      if (ty->dims[d] < 0)
        return ivm_error(IVM_ERR_RUNTIME, "output %u: dim %d unknown at run time", k, d);
    uint32_t t = in->operands[in->n_in + k];
    if (ty->dtype != x->dtype)
      return ivm_error(IVM_ERR_RUNTIME, "output %u: dtype %s, the module declares %s", k,
                       ivm_dtype_name((ivm_dtype)ty->dtype), ivm_dtype_name((ivm_dtype)x->dtype));
    if (v->tensors[t].kind == ISA_TK_DYNAMIC) {
      x->rank = (uint8_t)ty->rank;
      memcpy(x->dims, ty->dims, sizeof x->dims);
      if (s->module->pooled[t]) IVM_TRY(pool_acquire(s, t, rt_nbytes(x)));
      else IVM_TRY(ensure_capacity(s, x, rt_nbytes(x)));
    } else if (ty->rank != x->rank ||
               memcmp(ty->dims, x->dims, (size_t)ty->rank * sizeof ty->dims[0]) != 0) {
      return ivm_error(IVM_ERR_RUNTIME, "output %u: run-time shape differs from the module's",
                       k);
    }
  }
  return NULL;
}

/* ---- control flow (docs/bytecode.md, "Control flow") ------------------------------ */
static ivm_status scalar_arg(const rt_tensor *x, int dt, const char *what) {
  if (x->dtype != dt || rt_numel(x) != 1 || !x->data)
    return ivm_error(IVM_ERR_RUNTIME, "%s: expected one %s element, got %lld", what,
                     ivm_dtype_name((ivm_dtype)dt), (long long)rt_numel(x));
  return NULL;
}

/* Whether the loop opened by LoopBegin `b` runs iteration i: i < M and cond. */
static ivm_status loop_continues(const ivm_session *s, uint32_t b, int64_t i, int *go) {
  const rt_call *c = &s->calls[b];
  *go = 1;
  if (c->n_in > 0 && c->in[0]) {
    IVM_TRY(scalar_arg(c->in[0], IVM_DT_I64, "trip count M"));
    if (i >= *(const int64_t *)c->in[0]->data) *go = 0;
  }
  if (c->n_in > 1 && c->in[1]) {
    IVM_TRY(scalar_arg(c->in[1], IVM_DT_BOOL, "loop condition"));
    if (!*(const uint8_t *)c->in[1]->data) *go = 0;
  }
  return NULL;
}

/* Appends (or prepends) y as a new leading slice of the accumulator var acc, growing its
 * storage geometrically and keeping what it holds. */
static ivm_status scan_append(ivm_session *s, rt_tensor *acc, const rt_tensor *y, int prepend) {
  if (acc == y) return ivm_error(IVM_ERR_RUNTIME, "ScanAppend: the accumulator appends itself");
  if (y->dtype != acc->dtype)
    return ivm_error(IVM_ERR_RUNTIME, "ScanAppend: dtype %s, the accumulator holds %s",
                     ivm_dtype_name((ivm_dtype)y->dtype), ivm_dtype_name((ivm_dtype)acc->dtype));
  if (y->rank + 1 > ISA_MAX_RANK)
    return ivm_error(IVM_ERR_RUNTIME, "ScanAppend: rank %u leaves no room to stack", y->rank);
  int64_t count = acc->rank ? acc->dims[0] : 0;
  if (count == 0) {
    acc->rank = (uint8_t)(y->rank + 1);
    acc->dims[0] = 0;
    for (int k = 0; k < y->rank; k++) acc->dims[k + 1] = y->dims[k];
  } else {
    int same = acc->rank == y->rank + 1;
    for (int k = 0; same && k < y->rank; k++) same = acc->dims[k + 1] == y->dims[k];
    if (!same)
      return ivm_error(IVM_ERR_RUNTIME,
                       "ScanAppend: the per-iteration value changed shape between iterations");
  }
  size_t elem = rt_nbytes(y), used = (size_t)count * elem;
  if (elem && (size_t)(count + 1) > SIZE_MAX / 2 / elem)
    return ivm_error(IVM_ERR_RUNTIME, "ScanAppend: accumulator too large");
  size_t need = used + elem;
  if (need > acc->capacity || !acc->data) {
    size_t cap = acc->capacity * 2 > need ? acc->capacity * 2 : need;
    void *p = rt_alloc(&s->allocator, cap ? cap : 1, 64);
    if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "ScanAppend: cannot allocate %zu bytes", cap);
    if (used) memcpy(p, acc->data, used);
    rt_free(&s->allocator, acc->data);
    acc->data = p;
    acc->capacity = cap;
  }
  uint8_t *d = acc->data;
  if (prepend) {
    if (used) memmove(d + elem, d, used);
    if (elem) memcpy(d, y->data, elem);
  } else if (elem) {
    memcpy(d + used, y->data, elem);
  }
  acc->dims[0] = count + 1;
  return NULL;
}

/* Executes control instruction pc and sets *next to the instruction to run next. Jump
 * targets were checked by the verifier: they name the partner marker of a region. */
static ivm_status exec_control(ivm_session *s, uint32_t pc, uint32_t *next) {
  const vm_instr *in = &s->module->instrs[pc];
  const rt_call *c = &s->calls[pc];
  *next = pc + 1;
  switch (in->ctl) {
    case VM_CTL_IF:
      IVM_TRY(scalar_arg(c->in[0], IVM_DT_BOOL, "If condition"));
      if (!*(const uint8_t *)c->in[0]->data) *next = in->target + 1;
      return NULL;
    case VM_CTL_ELSE: *next = in->target + 1; return NULL;
    case VM_CTL_ENDIF: return NULL;
    case VM_CTL_LOOP: {
      rt_tensor *it = c->out[0];
      IVM_TRY(ensure_capacity(s, it, sizeof(int64_t)));
      it->rank = 0;
      *(int64_t *)it->data = 0;
      int go;
      IVM_TRY(loop_continues(s, pc, 0, &go));
      if (!go) *next = in->target + 1;
      return NULL;
    }
    case VM_CTL_LOOPEND: {
      uint32_t b = in->target;
      rt_tensor *it = s->calls[b].out[0];
      int64_t i = ++*(int64_t *)it->data;
      int go;
      IVM_TRY(loop_continues(s, b, i, &go));
      if (go) *next = b + 1;
      return NULL;
    }
    case VM_CTL_SCANINIT:
      c->out[0]->rank = 1;
      c->out[0]->dims[0] = 0;
      return NULL;
    case VM_CTL_SCANAPPEND:
      return scan_append(s, c->out[0], c->in[1], in->attrs[ISA_A_ScanAppend_prepend].v.i != 0);
    case VM_CTL_SEQ: return vm_exec_seq(s->module, &s->allocator, s->tensors, pc);
    default: return ivm_error(IVM_ERR_INTERNAL, "unknown control instruction");
  }
}

ivm_status ivm_session_schedule_stats(const ivm_session *s, ivm_schedule_stats *out) {
  if (!s || !out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "schedule stats: NULL argument");
  memset(out, 0, sizeof *out);
  out->instructions = s->module->view.n_instrs;
  const vm_schedule *sc = s->schedule;
  for (uint32_t k = 0; sc && k < sc->n_segments; k++) {
    rt_sched_graph_stats gs;
    rt_sched_graph_stats_get(sc->segments[k].graph, &gs);
    out->graph_segments++;
    out->graph_instructions += gs.nodes;
    out->estimated_serial_ms += gs.total_ns / 1e6;
    out->estimated_critical_ms += gs.critical_ns / 1e6;
  }
  return NULL;
}

/* One scheduler node: instruction first + node of a segment, on pool lane `lane`. */
static ivm_status run_node(void *ctx, uint32_t node, int lane) {
  const segment_run *r = ctx;
  ivm_session *s = r->session;
  uint32_t i = r->first + node;
  rt_call *c = &s->calls[i];
  c->scratch = lane > 0 && lane < s->n_lanes ? &s->lanes[lane] : &s->scratch;
  double t0 = s->prof_ns ? now_ns() : 0;
  ivm_status st = s->module->instrs[i].kernel(c);
  if (s->prof_ns) {
    s->prof_ns[i] += now_ns() - t0;
    s->prof_count[i]++;
  }
  c->scratch = &s->scratch;
  if (st) {
    char where[256];
    vm_instr_context(s->module, i, where, sizeof where);
    return ivm_status_wrap(st, "%s: %s", s->module->what, where);
  }
  return NULL;
}

ivm_status ivm_session_run(ivm_session *s) {
  if (!s) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "run: NULL session");
  ivm_module *m = s->module;
  const isa_module *v = &m->view;
  for (uint32_t k = 0; k < v->n_inputs; k++)
    if (!s->bound[k])
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "%s: input '%s' is not bound", m->what,
                       isa_module_str(v, v->tensors[v->inputs[k]].name));
  const vm_instr *instrs = m->instrs;
  const rt_call *calls = s->calls;
  /* Blocks still held from the last run (a skipped branch, an error) go back first. */
  for (uint32_t b = 0; b < s->n_blocks; b++)
    if (s->blocks[b].owner != POOL_FREE) pool_release(s, s->blocks[b].owner);
  /* A pc loop: control instructions (ISA_OPF_CONTROL) are executed here and may jump;
   * everything else runs its kernel and falls through. */
  for (uint32_t i = 0, next; i < v->n_instrs; i = next) {
    ivm_status st = NULL;
    next = i + 1;
    uint32_t seg = s->schedule ? s->schedule->segment_at[i] : 0;
    if (seg) {
      const vm_segment *g = &s->schedule->segments[seg - 1];
      IVM_TRY(rt_sched_execute(g->graph, s->segment_runs[seg - 1].cpu, NULL, 0));
      next = g->first + g->count;
      continue;
    }
    double t0 = s->prof_ns ? now_ns() : 0;
    if (instrs[i].ctl) {
      st = exec_control(s, i, &next);
    } else {
      if (instrs[i].needs_infer) st = infer_at_run_time(s, i);
      if (!st) st = instrs[i].kernel(&calls[i]);
    }
    if (s->prof_ns) {
      s->prof_ns[i] += now_ns() - t0;
      s->prof_count[i]++;
    }
    if (st) {
      char where[256];
      vm_instr_context(m, i, where, sizeof where);
      return ivm_status_wrap(st, "%s: %s", m->what, where);
    }
    /* Storage whose last reader was i returns to the pool, except at a LoopEnd that
     * jumps back: values from before the loop are read again by the next iteration. */
    if (instrs[i].ctl != VM_CTL_LOOPEND || next == i + 1)
      for (uint32_t r = m->release_start[i]; r < m->release_start[i + 1]; r++)
        pool_release(s, m->release_list[r]);
  }
  s->has_run = 1;
  return NULL;
}

ivm_status ivm_session_output(ivm_session *s, uint32_t index, ivm_tensor_view *out) {
  if (!s || !out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output: NULL argument");
  const isa_module *v = &s->module->view;
  if (index >= v->n_outputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output index %u out of range (%u outputs)",
                     index, v->n_outputs);
  if (!s->has_run) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output: the session has not run");
  if (v->tensors[v->outputs[index]].flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "output %u is a sequence or optional: read it with "
                     "ivm_session_output_sequence / ivm_session_output_item", index);
  const rt_tensor *x = &s->tensors[v->outputs[index]];
  memset(out, 0, sizeof *out);
  out->dtype = (ivm_dtype)x->dtype;
  out->rank = x->rank;
  memcpy(out->dims, x->dims, sizeof out->dims);
  out->data = x->data;
  out->nbytes = rt_nbytes(x);
  return NULL;
}

/* ---- sequence and optional inputs / outputs (vm/seq.c) ----------------------------- */
ivm_status ivm_session_bind_sequence(ivm_session *s, uint32_t index, int32_t has_value,
                                     uint32_t count, const ivm_tensor_view *items) {
  if (!s || (count && !items)) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "bind: NULL argument");
  const isa_module *v = &s->module->view;
  if (index >= v->n_inputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "bind: input index %u out of range (%u inputs)",
                     index, v->n_inputs);
  uint32_t t = v->inputs[index];
  const isa_tensor_rec *r = &v->tensors[t];
  const char *name = isa_module_str(v, r->name);
  int vk = ISA_TF_VKIND(r->flags);
  if (vk == ISA_VK_TENSOR)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' is a tensor: use ivm_session_bind_input",
                     name);
  if (!has_value && !(vk & ISA_VK_OPT))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': a sequence cannot be none", name);
  if (has_value && vk == ISA_VK_OPT && count != 1)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s': an optional tensor takes 1 item, got %u",
                     name, count);
  if (!has_value) count = 0;
  int rank_known = !(r->flags & ISA_TF_RANK_UNKNOWN);
  for (uint32_t i = 0; i < count; i++) {
    const ivm_tensor_view *it = &items[i];
    if ((int)it->dtype != r->dtype)
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' item %u: expected dtype %s, got %s",
                       name, i, ivm_dtype_name((ivm_dtype)r->dtype), ivm_dtype_name(it->dtype));
    if (it->rank < 0 || it->rank > IVM_MAX_RANK || (rank_known && it->rank != r->rank))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' item %u: bad rank %d", name, i,
                       it->rank);
    int64_t numel = 1;
    for (int k = 0; k < it->rank; k++) {
      int64_t want = rank_known ? v->dims[r->dims + k] : -1;
      if (it->dims[k] < 0 || (want >= 0 && it->dims[k] != want))
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' item %u: dim %d is %lld", name, i,
                         k, (long long)it->dims[k]);
      if (it->dims[k] && numel > INT64_MAX / it->dims[k])
        return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' item %u: shape too large", name, i);
      numel *= it->dims[k];
    }
    if ((uint64_t)numel > SIZE_MAX / 16 ||
        it->nbytes != (size_t)numel * ivm_dtype_size(it->dtype) || (it->nbytes && !it->data))
      return ivm_error(IVM_ERR_INVALID_ARGUMENT, "input '%s' item %u: %zu bytes do not match its shape",
                       name, i, it->nbytes);
  }
  vm_seq *q = s->tensors[t].data;
  IVM_TRY(vm_seq_reserve(&s->allocator, q, count));
  for (uint32_t i = 0; i < count; i++) {
    rt_tensor src;
    memset(&src, 0, sizeof src);
    src.dtype = (uint8_t)items[i].dtype;
    src.rank = (uint8_t)items[i].rank;
    memcpy(src.dims, items[i].dims, sizeof src.dims);
    src.data = (void *)items[i].data;
    IVM_TRY(vm_seq_set_item(&s->allocator, q, i, &src));
  }
  q->count = count;
  q->has_value = has_value ? 1 : 0;
  s->bound[index] = 1;
  return NULL;
}

static ivm_status seq_output(ivm_session *s, uint32_t index, const vm_seq **out) {
  if (!s) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output: NULL argument");
  const isa_module *v = &s->module->view;
  if (index >= v->n_outputs)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output index %u out of range (%u outputs)",
                     index, v->n_outputs);
  if (!s->has_run) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output: the session has not run");
  if (!(v->tensors[v->outputs[index]].flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output %u is a tensor: use ivm_session_output",
                     index);
  *out = s->tensors[v->outputs[index]].data;
  return NULL;
}

ivm_status ivm_session_output_sequence(ivm_session *s, uint32_t index, int32_t *has_value,
                                       uint32_t *count) {
  const vm_seq *q = NULL;
  IVM_TRY(seq_output(s, index, &q));
  if (has_value) *has_value = q->has_value;
  if (count) *count = q->has_value ? q->count : 0;
  return NULL;
}

ivm_status ivm_session_output_item(ivm_session *s, uint32_t index, uint32_t item,
                                   ivm_tensor_view *out) {
  const vm_seq *q = NULL;
  if (!out) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output: NULL argument");
  IVM_TRY(seq_output(s, index, &q));
  if (!q->has_value || item >= q->count)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "output %u: item %u out of range (%u items)", index,
                     item, q->has_value ? q->count : 0);
  const rt_tensor *x = &q->items[item];
  memset(out, 0, sizeof *out);
  out->dtype = (ivm_dtype)x->dtype;
  out->rank = x->rank;
  memcpy(out->dims, x->dims, sizeof out->dims);
  out->data = x->data;
  out->nbytes = rt_nbytes(x);
  return NULL;
}

/* ---- profiling ------------------------------------------------------------------------ */
ivm_status ivm_session_set_profiling(ivm_session *s, int enable) {
  if (!s) return ivm_error(IVM_ERR_INVALID_ARGUMENT, "profiling: NULL session");
  free(s->prof_ns);
  free(s->prof_count);
  s->prof_ns = NULL;
  s->prof_count = NULL;
  if (!enable) return NULL;
  uint32_t n = s->module->view.n_instrs ? s->module->view.n_instrs : 1;
  s->prof_ns = calloc(n, sizeof *s->prof_ns);
  s->prof_count = calloc(n, sizeof *s->prof_count);
  if (!s->prof_ns || !s->prof_count) {
    free(s->prof_ns);
    free(s->prof_count);
    s->prof_ns = NULL;
    s->prof_count = NULL;
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "profiling: out of memory");
  }
  return NULL;
}

static int by_time_desc(const void *a, const void *b) {
  double x = ((const ivm_profile_entry *)a)->total_ms, y = ((const ivm_profile_entry *)b)->total_ms;
  return (x < y) - (x > y);
}

ivm_status ivm_session_profile(ivm_session *s, ivm_profile_entry *entries, uint32_t capacity,
                               uint32_t *out_count) {
  if (!s || !out_count || (capacity && !entries))
    return ivm_error(IVM_ERR_INVALID_ARGUMENT, "profile: NULL argument");
  if (!s->prof_ns)
    return ivm_error(IVM_ERR_INVALID_ARGUMENT,
                     "profile: profiling is off (ivm_session_set_profiling(session, 1))");
  /* One entry per op kind; the descriptor (not the import) names it, so fused regions
   * show as FusedElementwise and custom ops by their own names. */
  const ivm_module *m = s->module;
  uint32_t n = 0;
  ivm_profile_entry *all = calloc(m->view.n_instrs + 1, sizeof *all);
  if (!all) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "profile: out of memory");
  for (uint32_t i = 0; i < m->view.n_instrs; i++) {
    if (!s->prof_count[i]) continue;
    const isa_op_desc *d = m->instrs[i].desc;
    uint32_t k = 0;
    while (k < n && !(strcmp(all[k].op, d->name) == 0 && strcmp(all[k].domain, d->domain) == 0))
      k++;
    if (k == n) {
      all[n].domain = d->domain;
      all[n].op = d->name;
      n++;
    }
    all[k].instructions++;
    all[k].calls += s->prof_count[i];
    all[k].total_ms += s->prof_ns[i] / 1e6;
  }
  qsort(all, n, sizeof *all, by_time_desc);
  for (uint32_t k = 0; k < n && k < capacity; k++) entries[k] = all[k];
  *out_count = n;
  free(all);
  return NULL;
}
