/* Sequence and optional values (the seq op family, isa/ops_seq.def; docs/bytecode.md,
 * "Sequences and optionals"). The session's rt_tensor of such a value points at a vm_seq
 * (dtype: the elements'); items own their storage, which only grows, so a steady-state run
 * that builds sequences of the same sizes does not allocate. The verifier has checked value
 * kinds and dtypes; what depends on data (positions, shapes of elements) is checked here. */
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

#define RTERR(...) ivm_error(IVM_ERR_RUNTIME, __VA_ARGS__)

static ivm_status grow_tensor(const ivm_allocator *a, rt_tensor *x, size_t bytes) {
  if (bytes <= x->capacity && x->data) return NULL;
  rt_free(a, x->data);
  x->data = rt_alloc(a, bytes ? bytes : 1, 64);
  x->capacity = x->data ? bytes : 0;
  if (!x->data) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "cannot allocate %zu bytes", bytes);
  return NULL;
}

ivm_status vm_seq_reserve(const ivm_allocator *a, vm_seq *s, uint32_t n) {
  if (n <= s->cap) return NULL;
  if (n > (1u << 28)) return RTERR("sequence of %u elements is too long", n);
  uint32_t cap = s->cap * 2 > n ? s->cap * 2 : n;
  if (cap < 4) cap = 4;
  rt_tensor *p = rt_alloc(a, cap * sizeof *p, 64);
  if (!p) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "cannot allocate a sequence of %u", cap);
  memset(p, 0, cap * sizeof *p);
  if (s->cap) memcpy(p, s->items, s->cap * sizeof *p);
  rt_free(a, s->items);
  s->items = p;
  s->cap = cap;
  return NULL;
}

void vm_seq_free(const ivm_allocator *a, vm_seq *s) {
  if (!s) return;
  for (uint32_t k = 0; k < s->cap; k++) rt_free(a, s->items[k].data);
  rt_free(a, s->items);
  s->items = NULL;
  s->count = s->cap = 0;
}

ivm_status vm_seq_set_item(const ivm_allocator *a, vm_seq *dst, uint32_t k, const rt_tensor *src) {
  rt_tensor *x = &dst->items[k];
  size_t n = rt_nbytes(src);
  IVM_TRY(grow_tensor(a, x, n));
  x->dtype = src->dtype;
  x->rank = src->rank;
  memcpy(x->dims, src->dims, sizeof x->dims);
  if (n) memcpy(x->data, src->data, n);
  return NULL;
}

ivm_status vm_seq_assign(const ivm_allocator *a, vm_seq *dst, const vm_seq *src) {
  if (dst == src) return NULL;
  IVM_TRY(vm_seq_reserve(a, dst, src->count));
  for (uint32_t k = 0; k < src->count; k++) IVM_TRY(vm_seq_set_item(a, dst, k, &src->items[k]));
  dst->count = src->count;
  dst->has_value = src->has_value;
  return NULL;
}

/* Inserts a copy of y at position pos (0..count), rotating a spare item's storage in. */
static ivm_status seq_insert(const ivm_allocator *a, vm_seq *s, uint32_t pos, const rt_tensor *y) {
  IVM_TRY(vm_seq_reserve(a, s, s->count + 1));
  IVM_TRY(vm_seq_set_item(a, s, s->count, y));
  rt_tensor t = s->items[s->count];
  memmove(&s->items[pos + 1], &s->items[pos], (s->count - pos) * sizeof t);
  s->items[pos] = t;
  s->count++;
  return NULL;
}

static void seq_erase(vm_seq *s, uint32_t pos) {
  rt_tensor t = s->items[pos];
  memmove(&s->items[pos], &s->items[pos + 1], (s->count - pos - 1) * sizeof t);
  s->items[--s->count] = t; /* keeps its storage for reuse */
}

/* Sizes a tensor output: DYNAMIC outputs grow, ARENA outputs must already have the shape. */
static ivm_status shape_out(const ivm_allocator *a, const isa_tensor_rec *r, rt_tensor *y,
                            int rank, const int64_t *dims) {
  if (r->kind != ISA_TK_DYNAMIC) {
    int same = y->rank == rank;
    for (int k = 0; same && k < rank; k++) same = y->dims[k] == dims[k];
    if (!same) return RTERR("output: run-time shape differs from the module's");
    return NULL;
  }
  if (!(r->flags & ISA_TF_RANK_UNKNOWN) && r->rank != rank)
    return RTERR("output: rank %d, the module declares %u", rank, r->rank);
  y->rank = (uint8_t)rank;
  memset(y->dims, 0, sizeof y->dims);
  for (int k = 0; k < rank; k++) y->dims[k] = dims[k];
  return grow_tensor(a, y, rt_nbytes(y));
}

static ivm_status copy_tensor_out(const ivm_allocator *a, const isa_tensor_rec *r, rt_tensor *y,
                                  const rt_tensor *x) {
  if (x->dtype != y->dtype) return RTERR("element dtype %s, the output is %s",
                                         ivm_dtype_name((ivm_dtype)x->dtype),
                                         ivm_dtype_name((ivm_dtype)y->dtype));
  IVM_TRY(shape_out(a, r, y, x->rank, x->dims));
  size_t n = rt_nbytes(x);
  if (n) memcpy(y->data, x->data, n);
  return NULL;
}

/* A position input (1-element i32/i64) normalised into [0, n] (or [0, n) when !end_ok). */
static ivm_status position(const rt_tensor *p, uint32_t n, int end_ok, uint32_t *out) {
  if (rt_numel(p) != 1) return RTERR("position: expected one element, got %lld", (long long)rt_numel(p));
  int64_t v = p->dtype == IVM_DT_I32 ? *(const int32_t *)p->data : *(const int64_t *)p->data;
  int64_t lo = -(int64_t)n, hi = end_ok ? (int64_t)n : (int64_t)n - 1;
  if (v < lo || v > hi)
    return RTERR("position %lld is out of range for a sequence of %u elements", (long long)v, n);
  *out = (uint32_t)(v < 0 ? v + n : v);
  return NULL;
}

static int64_t read_int(const rt_tensor *t, int64_t k) {
  return t->dtype == IVM_DT_I32 ? ((const int32_t *)t->data)[k] : ((const int64_t *)t->data)[k];
}

/* Copies the slab [from, from + len) of x along axis into item y (dims set by caller). */
static void slab_copy(const rt_tensor *x, int axis, int64_t from, int64_t len, void *dst) {
  size_t es = ivm_dtype_size((ivm_dtype)x->dtype);
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= x->dims[k];
  for (int k = axis + 1; k < x->rank; k++) inner *= x->dims[k];
  size_t row = (size_t)(len * inner) * es, stride = (size_t)(x->dims[axis] * inner) * es;
  const uint8_t *src = (const uint8_t *)x->data + (size_t)(from * inner) * es;
  uint8_t *d = dst;
  for (int64_t o = 0; o < outer; o++) memcpy(d + (size_t)o * row, src + (size_t)o * stride, row);
}

static ivm_status split_to_sequence(const ivm_allocator *a, const vm_instr *in, const rt_tensor *x,
                                    const rt_tensor *split, vm_seq *out) {
  if (x->rank == 0) return RTERR("cannot split a scalar");
  int64_t axis = in->attrs[ISA_A_SplitToSequence_axis].v.i;
  int keep = in->attrs[ISA_A_SplitToSequence_keepdims].v.i != 0;
  if (axis < -(int64_t)x->rank || axis >= x->rank) return RTERR("axis out of range");
  if (axis < 0) axis += x->rank;
  int64_t dim = x->dims[axis], n = 0, chunk = 1;
  const rt_tensor *sizes = NULL;
  if (!split) {
    n = dim;
  } else if (split->rank == 0) {
    chunk = read_int(split, 0);
    if (chunk <= 0) return RTERR("split size %lld must be positive", (long long)chunk);
    n = (dim + chunk - 1) / chunk;
    keep = 1;
  } else {
    sizes = split;
    n = rt_numel(split);
    int64_t sum = 0;
    for (int64_t k = 0; k < n; k++) {
      int64_t v = read_int(split, k);
      if (v < 0 || v > dim) return RTERR("split size %lld is out of range", (long long)v);
      sum += v;
    }
    if (sum != dim) return RTERR("split sizes sum to %lld, the axis has %lld", (long long)sum, (long long)dim);
    keep = 1;
  }
  if (n > (1 << 28)) return RTERR("too many pieces");
  IVM_TRY(vm_seq_reserve(a, out, (uint32_t)n));
  int64_t from = 0;
  for (int64_t k = 0; k < n; k++) {
    int64_t len = sizes ? read_int(sizes, k) : (from + chunk <= dim ? chunk : dim - from);
    rt_tensor *y = &out->items[k];
    y->dtype = x->dtype;
    y->rank = x->rank;
    memcpy(y->dims, x->dims, sizeof y->dims);
    y->dims[axis] = len;
    IVM_TRY(grow_tensor(a, y, rt_nbytes(y)));
    slab_copy(x, (int)axis, from, len, y->data);
    if (!keep) {
      for (int j = (int)axis; j + 1 < x->rank; j++) y->dims[j] = y->dims[j + 1];
      y->dims[x->rank - 1] = 0;
      y->rank--;
    }
    from += len;
  }
  out->count = (uint32_t)n;
  out->has_value = 1;
  return NULL;
}

static ivm_status concat_from_sequence(const ivm_allocator *a, const vm_instr *in,
                                       const isa_tensor_rec *r, const vm_seq *s, rt_tensor *y) {
  if (s->count == 0) return RTERR("cannot concatenate an empty sequence");
  int na = in->attrs[ISA_A_ConcatFromSequence_new_axis].v.i != 0;
  int64_t axis = in->attrs[ISA_A_ConcatFromSequence_axis].v.i;
  const rt_tensor *e0 = &s->items[0];
  int rank = e0->rank + na;
  if (rank == 0 || rank > ISA_MAX_RANK) return RTERR("bad rank %d", rank);
  if (axis < -rank || axis >= rank) return RTERR("axis %lld out of range", (long long)axis);
  if (axis < 0) axis += rank;
  int64_t dims[ISA_MAX_RANK], total = 0;
  for (uint32_t i = 0; i < s->count; i++) {
    const rt_tensor *e = &s->items[i];
    if (e->rank != e0->rank || e->dtype != e0->dtype)
      return RTERR("element %u: rank or dtype differs from element 0", i);
    for (int k = 0; k < e->rank; k++)
      if ((na || k != axis) && e->dims[k] != e0->dims[k])
        return RTERR("element %u: dim %d is %lld, element 0 has %lld", i, k, (long long)e->dims[k],
                     (long long)e0->dims[k]);
    total += na ? 1 : e->dims[axis];
  }
  for (int k = 0, j = 0; k < rank; k++) dims[k] = (na && k == axis) ? 1 : e0->dims[j++];
  dims[axis] = total;
  if (y->dtype != e0->dtype) return RTERR("element dtype differs from the output's");
  IVM_TRY(shape_out(a, r, y, rank, dims));
  size_t es = ivm_dtype_size((ivm_dtype)y->dtype);
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < axis; k++) outer *= dims[k];
  for (int k = (int)axis + 1; k < rank; k++) inner *= dims[k];
  size_t out_row = (size_t)(total * inner) * es, off = 0;
  for (uint32_t i = 0; i < s->count; i++) {
    const rt_tensor *e = &s->items[i];
    int64_t len = na ? 1 : e->dims[axis];
    size_t row = (size_t)(len * inner) * es;
    for (int64_t o = 0; o < outer; o++)
      memcpy((uint8_t *)y->data + (size_t)o * out_row + off, (const uint8_t *)e->data + (size_t)o * row, row);
    off += row;
  }
  return NULL;
}

ivm_status vm_exec_seq(const ivm_module *m, const ivm_allocator *a, rt_tensor *tensors, uint32_t i) {
  const vm_instr *in = &m->instrs[i];
  const isa_module *v = &m->view;
  const uint32_t *ops = in->operands;
  const rt_tensor *x[4] = {NULL, NULL, NULL, NULL};
  for (uint32_t k = 0; k < in->n_in && k < 4; k++)
    if (ops[k] != ISA_NO_TENSOR) x[k] = &tensors[ops[k]];
  uint32_t to = ops[in->n_in];
  rt_tensor *y = &tensors[to];
  const isa_tensor_rec *r = &v->tensors[to];
  vm_seq *ys = (r->flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL)) ? y->data : NULL;
  const vm_seq *xs = x[0] && (v->tensors[ops[0]].flags & (ISA_TF_SEQUENCE | ISA_TF_OPTIONAL))
                         ? x[0]->data : NULL;
  const isa_op_desc *d = in->desc;
  if (in->n_out != 1 || (ys && !ys)) return ivm_error(IVM_ERR_INTERNAL, "seq op without output");
#define IS(Name) (d == isa_builtin_desc(ISA_OP_##Name))
  if (IS(SequenceEmpty)) {
    ys->count = 0;
    ys->has_value = 1;
    return NULL;
  }
  if (IS(SequenceConstruct)) {
    IVM_TRY(vm_seq_reserve(a, ys, in->n_in));
    for (uint32_t k = 0; k < in->n_in; k++) IVM_TRY(vm_seq_set_item(a, ys, k, &tensors[ops[k]]));
    ys->count = in->n_in;
    ys->has_value = 1;
    return NULL;
  }
  if (IS(SequenceInsert)) {
    IVM_TRY(vm_seq_assign(a, ys, xs)); /* no-op in place (a var) */
    uint32_t pos = ys->count;
    if (x[2]) IVM_TRY(position(x[2], ys->count, 1, &pos));
    if (x[1] == y) return RTERR("a sequence cannot insert itself");
    return seq_insert(a, ys, pos, x[1]);
  }
  if (IS(SequenceErase)) {
    IVM_TRY(vm_seq_assign(a, ys, xs));
    if (ys->count == 0) return RTERR("cannot erase from an empty sequence");
    uint32_t pos = ys->count - 1;
    if (x[1]) IVM_TRY(position(x[1], ys->count, 0, &pos));
    seq_erase(ys, pos);
    return NULL;
  }
  if (IS(SequenceAt)) {
    uint32_t pos = 0;
    IVM_TRY(position(x[1], xs->count, 0, &pos));
    return copy_tensor_out(a, r, y, &xs->items[pos]);
  }
  if (IS(SequenceLength)) {
    IVM_TRY(shape_out(a, r, y, 0, NULL));
    *(int64_t *)y->data = xs->count;
    return NULL;
  }
  if (IS(SplitToSequence)) return split_to_sequence(a, in, x[0], x[1], ys);
  if (IS(ConcatFromSequence)) return concat_from_sequence(a, in, r, xs, y);
  if (IS(Optional)) {
    if (!x[0]) {
      ys->count = 0;
      ys->has_value = 0;
    } else if (xs) {
      IVM_TRY(vm_seq_assign(a, ys, xs));
      ys->has_value = 1;
    } else {
      IVM_TRY(vm_seq_reserve(a, ys, 1));
      IVM_TRY(vm_seq_set_item(a, ys, 0, x[0]));
      ys->count = 1;
      ys->has_value = 1;
    }
    return NULL;
  }
  if (IS(OptionalHasElement)) {
    IVM_TRY(shape_out(a, r, y, 0, NULL));
    *(uint8_t *)y->data = x[0] ? (xs ? xs->has_value : 1) : 0;
    return NULL;
  }
  if (IS(CopyValue) && ys) return vm_seq_assign(a, ys, xs); /* none too */
  if (IS(OptionalGetElement) || IS(CopyValue)) {
    if (!xs) return copy_tensor_out(a, r, y, x[0]); /* a plain tensor */
    if (!xs->has_value) return RTERR("the optional holds no value");
    if (ys) return vm_seq_assign(a, ys, xs);
    if (xs->count != 1) return RTERR("the optional holds no tensor");
    return copy_tensor_out(a, r, y, &xs->items[0]);
  }
#undef IS
  return ivm_error(IVM_ERR_INTERNAL, "unknown seq instruction %s", d->name);
}
