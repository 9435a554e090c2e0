/* Which parts of a module the scheduler runs as a graph (vm/schedule.h).
 *
 * A segment is a maximal run of instructions that the graph may reorder: not control
 * flow (the pc loop runs that), no run-time shape inference (it resizes pooled storage,
 * which the pc loop owns) and no side effects (they keep program order). Inside a
 * segment every operand has a static place: an arena range, a constant (read-only, so
 * no edges), or a tensor of its own storage. The cost model estimates nanoseconds from
 * the static shapes: FLOPs for the contracting ops, bytes moved for everything else. */
#include "vm/schedule.h"

#include <stdlib.h>
#include <string.h>

/* Rough single-core throughput of this class of machine (measured with bench/: convs and
 * products run at 100-200 GFLOPS, elementwise kernels stream 30-50 GB/s). An instruction
 * costs the larger of its arithmetic and its traffic (a roofline), plus dispatch: adding
 * the two counted a conv's weights as if streamed apart from its products, and a model
 * of 40 µs (oww_melspectrogram) was estimated at 230 µs and run as a graph on 2 threads,
 * which cost more than it overlapped. */
#define NS_PER_FLOP (1.0 / 120.0)  /* ~120 GFLOPS sustained in sgemm-shaped work */
#define NS_PER_BYTE (1.0 / 30.0)   /* ~30 GB/s streaming through an elementwise kernel */
#define NS_PER_INSTR 60.0          /* dispatch and bookkeeping */

static int64_t numel_of(const isa_module *v, uint32_t t) {
  if (t == ISA_NO_TENSOR) return 0;
  const isa_tensor_rec *r = &v->tensors[t];
  int64_t n = 1;
  for (int k = 0; k < r->rank; k++) n *= v->dims[r->dims + k];
  return n;
}

static int64_t dim_of(const isa_module *v, uint32_t t, int k) {
  const isa_tensor_rec *r = &v->tensors[t];
  if (t == ISA_NO_TENSOR || r->rank == 0) return 1;
  if (k < 0) k += r->rank;
  return k >= 0 && k < r->rank ? v->dims[r->dims + k] : 1;
}

static int is_op(const vm_instr *in, isa_builtin_op op) { return in->desc == isa_builtin_desc(op); }

double vm_instr_cost_ns(const ivm_module *m, uint32_t i) {
  const isa_module *v = &m->view;
  const vm_instr *in = &m->instrs[i];
  double bytes = 0, flops = 0;
  for (uint32_t k = 0; k < (uint32_t)in->n_in + in->n_out; k++) {
    uint32_t t = in->operands[k];
    if (t != ISA_NO_TENSOR)
      bytes += (double)numel_of(v, t) * (double)ivm_dtype_size((ivm_dtype)v->tensors[t].dtype);
  }
  uint32_t y = in->n_out ? in->operands[in->n_in] : ISA_NO_TENSOR;
  if (in->n_in >= 2 && y != ISA_NO_TENSOR) {
    uint32_t a = in->operands[0], w = in->operands[1];
    if (is_op(in, ISA_OP_MatMul) || is_op(in, ISA_OP_MatMulInteger) || is_op(in, ISA_OP_Gemm) ||
        is_op(in, ISA_OP_FusedMatMul))
      flops = 2.0 * (double)numel_of(v, y) * (double)dim_of(v, a, -1);
    else if (is_op(in, ISA_OP_Conv) || is_op(in, ISA_OP_ConvInteger) || is_op(in, ISA_OP_FusedConv)) {
      /* W / M multiply-adds per output; M is W's dim 1 when stored transposed (transW 1),
       * dim 2 in Winograd's (16, C, M) (transW 2), which stands for 9 C, not 16 C, and 16
       * times dim 0 when channel-blocked (layout 1) */
      int fused = is_op(in, ISA_OP_FusedConv);
      int64_t layout = fused ? in->attrs[ISA_A_FusedConv_transW].v.i : 0;
      double mo = (double)dim_of(v, w, layout == 1 ? 1 : layout == 2 ? 2 : 0);
      if (fused && in->attrs[ISA_A_FusedConv_layout].v.i == 1) mo = 16.0 * (double)dim_of(v, w, 0);
      flops = 2.0 * (double)numel_of(v, y) * (double)numel_of(v, w) / (mo > 0 ? mo : 1);
      if (layout == 2) flops = flops * 9.0 / 16.0;
    }
    else if (is_op(in, ISA_OP_ConvTranspose))
      flops = 2.0 * (double)numel_of(v, a) * (double)numel_of(v, w) / (double)(dim_of(v, w, 0) ? dim_of(v, w, 0) : 1);
    else if ((is_op(in, ISA_OP_LSTM) || is_op(in, ISA_OP_GRU) || is_op(in, ISA_OP_RNN)) &&
             in->n_in >= 3 && in->operands[2] != ISA_NO_TENSOR)
      flops = 2.0 * (double)dim_of(v, a, 0) * (double)dim_of(v, a, 1) *
              (double)(numel_of(v, w) + numel_of(v, in->operands[2])) /
              (double)(dim_of(v, w, 0) ? dim_of(v, w, 0) : 1);
  }
  double compute = flops * NS_PER_FLOP, traffic = bytes * NS_PER_BYTE;
  return NS_PER_INSTR + (compute > traffic ? compute : traffic);
}

static int graphable(const ivm_module *m, uint32_t i) {
  const vm_instr *in = &m->instrs[i];
  if (in->ctl || in->needs_infer || (in->desc && (in->desc->flags & ISA_OPF_SIDE_EFFECTS)))
    return 0;
  /* Storage handed back to the session pool after i: the pc loop's business. */
  return m->release_start[i] == m->release_start[i + 1];
}

/* Each operand as an address range: the arena as is, other non-constant tensors each a
 * unit range of their own above it. */
static void operand_range(const isa_module *v, uint32_t t, rt_sched_access *a) {
  const isa_tensor_rec *r = &v->tensors[t];
  if (r->kind == ISA_TK_ARENA) {
    a->begin = r->offset;
    a->end = r->offset + (r->size ? r->size : 1);
  } else {
    uint64_t base = v->plan->arena_size + 64;
    a->begin = base + t;
    a->end = base + t + 1;
  }
}

static ivm_status build_segment(const ivm_module *m, uint32_t first, uint32_t count,
                                rt_sched_graph **out) {
  const isa_module *v = &m->view;
  uint32_t n_acc = 0;
  for (uint32_t k = 0; k < count; k++)
    n_acc += (uint32_t)m->instrs[first + k].n_in + m->instrs[first + k].n_out;
  uint32_t *start = malloc(((size_t)count + 1) * sizeof *start);
  rt_sched_access *acc = malloc(((size_t)n_acc + 1) * sizeof *acc);
  double *cost = malloc(((size_t)count + 1) * sizeof *cost);
  ivm_status st = NULL;
  if (!start || !acc || !cost) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  } else {
    uint32_t a = 0;
    for (uint32_t k = 0; k < count; k++) {
      const vm_instr *in = &m->instrs[first + k];
      start[k] = a;
      for (uint32_t o = 0; o < (uint32_t)in->n_in + in->n_out; o++) {
        uint32_t t = in->operands[o];
        if (t == ISA_NO_TENSOR || v->tensors[t].kind == ISA_TK_CONST) continue;
        operand_range(v, t, &acc[a]);
        acc[a].write = o >= in->n_in;
        a++;
      }
      cost[k] = vm_instr_cost_ns(m, first + k);
    }
    start[count] = a;
    st = rt_sched_graph_build(count, start, acc, cost, out);
  }
  free(start);
  free(acc);
  free(cost);
  return st;
}

/* Worth a graph: the work that could overlap the critical path must outweigh the
 * scheduler's own cost (a heap and a few atomics per instruction). */
static int worth_it(const rt_sched_graph_stats *gs, int threads) {
  double bound = gs->total_ns / threads > gs->critical_ns ? gs->total_ns / threads : gs->critical_ns;
  double gain = gs->total_ns - bound, overhead = 20000.0 + 400.0 * gs->nodes;
  return gain > overhead && gain > 0.05 * gs->total_ns;
}

void vm_schedule_free(vm_schedule *sc) {
  if (!sc) return;
  for (uint32_t k = 0; k < sc->n_segments; k++) rt_sched_graph_free(sc->segments[k].graph);
  free(sc->segments);
  free(sc->segment_at);
  free(sc);
}

ivm_status vm_schedule_create(const ivm_module *m, int threads, ivm_schedule mode,
                              vm_schedule **out) {
  *out = NULL;
  const isa_module *v = &m->view;
  vm_schedule *sc = calloc(1, sizeof *sc);
  if (!sc) return ivm_error(IVM_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  sc->segment_at = calloc((size_t)v->n_instrs + 1, sizeof *sc->segment_at);
  if (!sc->segment_at) {
    vm_schedule_free(sc);
    return ivm_error(IVM_ERR_OUT_OF_MEMORY, "schedule: out of memory");
  }
  if (mode == IVM_SCHEDULE_SEQUENTIAL || (mode == IVM_SCHEDULE_AUTO && threads < 2)) {
    *out = sc;
    return NULL;
  }
  for (uint32_t i = 0; i < v->n_instrs;) {
    if (!graphable(m, i)) {
      i++;
      continue;
    }
    uint32_t j = i;
    while (j < v->n_instrs && graphable(m, j)) j++;
    if (j - i >= 2) {
      rt_sched_graph *g = NULL;
      ivm_status st = build_segment(m, i, j - i, &g);
      if (st) {
        vm_schedule_free(sc);
        return st;
      }
      rt_sched_graph_stats gs;
      rt_sched_graph_stats_get(g, &gs);
      if (mode == IVM_SCHEDULE_GRAPH || worth_it(&gs, threads)) {
        vm_segment *segs = realloc(sc->segments, (sc->n_segments + 1) * sizeof *segs);
        if (!segs) {
          rt_sched_graph_free(g);
          vm_schedule_free(sc);
          return ivm_error(IVM_ERR_OUT_OF_MEMORY, "schedule: out of memory");
        }
        sc->segments = segs;
        segs[sc->n_segments] = (vm_segment){i, j - i, g};
        sc->segment_at[i] = ++sc->n_segments;
      } else {
        rt_sched_graph_free(g);
      }
    }
    i = j;
  }
  *out = sc;
  return NULL;
}
