/* Run-time lifetimes of DYNAMIC tensors. Their sizes are known only while a run goes, so
 * the arena planner cannot place them; instead each one is released to the session's
 * pool (vm/session.c) right after its last reader, and the next dynamic tensor reuses
 * the block. A value defined before a loop and read inside it must survive every
 * iteration, so its last use moves to the loop's end (the back edge). */
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"

/* Pooled: DYNAMIC plain tensors written by an instruction. Not graph inputs (the host
 * binds them), not graph outputs (read after the run), not vars (they persist across
 * iterations and branches) and not sequences/optionals (vm/seq.c owns those). */
static void mark_pooled(const isa_module *v, uint8_t *pooled) {
  for (uint32_t t = 0; t < v->n_tensors; t++) {
    const isa_tensor_rec *r = &v->tensors[t];
    pooled[t] = r->kind == ISA_TK_DYNAMIC &&
                !(r->flags & (ISA_TF_VAR | ISA_TF_SEQUENCE | ISA_TF_OPTIONAL));
  }
  for (uint32_t k = 0; k < v->n_inputs; k++) pooled[v->inputs[k]] = 0;
  for (uint32_t k = 0; k < v->n_outputs; k++) pooled[v->outputs[k]] = 0;
}

ivm_status vm_plan_lifetimes(ivm_module *m) {
  const isa_module *v = &m->view;
  uint32_t nt = v->n_tensors ? v->n_tensors : 1, ni = v->n_instrs;
  uint8_t *pooled = calloc(nt, 1);
  uint32_t *def = malloc(nt * sizeof *def), *last = malloc(nt * sizeof *last);
  /* enclosing[i]: the innermost LoopBegin whose region holds i (a LoopBegin and its
   * LoopEnd belong to their own loop); parent[b]: the loop around loop b. */
  uint32_t *enclosing = malloc((ni ? ni : 1) * sizeof *enclosing);
  uint32_t *parent = malloc((ni ? ni : 1) * sizeof *parent);
  uint32_t *count = calloc((size_t)ni + 1, sizeof *count);
  ivm_status st = NULL;
  if (!pooled || !def || !last || !enclosing || !parent || !count) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory planning lifetimes", m->what);
    goto done;
  }
  mark_pooled(v, pooled);
  /* Control and seq instructions manage their outputs' storage themselves. */
  for (uint32_t i = 0; i < ni; i++) {
    const vm_instr *in = &m->instrs[i];
    if (!in->ctl) continue;
    for (uint32_t k = 0; k < in->n_out; k++)
      if (in->operands[in->n_in + k] != ISA_NO_TENSOR) pooled[in->operands[in->n_in + k]] = 0;
  }
  for (uint32_t t = 0; t < nt; t++) def[t] = last[t] = UINT32_MAX;
  /* Loops nest properly (the verifier's structure pass checked it). */
  {
    uint32_t top = UINT32_MAX;
    for (uint32_t i = 0; i < ni; i++) {
      const vm_instr *in = &m->instrs[i];
      parent[i] = UINT32_MAX;
      if (in->ctl == VM_CTL_LOOP) {
        parent[i] = top;
        top = i;
      }
      enclosing[i] = top;
      if (in->ctl == VM_CTL_LOOPEND && top != UINT32_MAX) top = parent[top];
    }
  }
  for (uint32_t i = 0; i < ni; i++) {
    const vm_instr *in = &m->instrs[i];
    for (uint32_t k = 0; k < in->n_out; k++) {
      uint32_t t = in->operands[in->n_in + k];
      if (t != ISA_NO_TENSOR && pooled[t] && def[t] == UINT32_MAX) def[t] = last[t] = i;
    }
  }
  for (uint32_t i = 0; i < ni; i++) {
    const vm_instr *in = &m->instrs[i];
    for (uint32_t k = 0; k < in->n_in; k++) {
      uint32_t t = in->operands[k];
      if (t == ISA_NO_TENSOR || !pooled[t] || def[t] == UINT32_MAX) continue;
      uint32_t end = i;
      /* Climb the loops around the reader that do not hold the definition. */
      for (uint32_t b = enclosing[i]; b != UINT32_MAX; b = parent[b]) {
        uint32_t e = m->instrs[b].target;
        if (def[t] >= b && def[t] <= e) break;
        end = e;
      }
      if (end > last[t] || last[t] == UINT32_MAX) last[t] = end;
    }
  }
  for (uint32_t t = 0; t < nt; t++)
    if (pooled[t] && last[t] != UINT32_MAX) count[last[t]]++;
  m->release_start = rt_alloc(&m->allocator, ((size_t)ni + 1) * sizeof *m->release_start, 64);
  uint32_t total = 0;
  for (uint32_t i = 0; i < ni; i++) total += count[i];
  m->release_list = rt_alloc(&m->allocator, (total ? total : 1) * sizeof *m->release_list, 64);
  if (!m->release_start || !m->release_list) {
    st = ivm_error(IVM_ERR_OUT_OF_MEMORY, "%s: out of memory planning lifetimes", m->what);
    goto done;
  }
  uint32_t pos = 0;
  for (uint32_t i = 0; i <= ni; i++) {
    m->release_start[i] = pos;
    if (i < ni) pos += count[i];
  }
  memset(count, 0, ((size_t)ni + 1) * sizeof *count);
  for (uint32_t t = 0; t < nt && v->n_tensors; t++)
    if (pooled[t] && last[t] != UINT32_MAX)
      m->release_list[m->release_start[last[t]] + count[last[t]]++] = t;
  m->pooled = pooled;
  pooled = NULL;
done:
  free(pooled);
  free(def);
  free(last);
  free(enclosing);
  free(parent);
  free(count);
  return st;
}
