/* The session's schedule: the straight-line segments of a module that run as dependency
 * graphs on the scheduler (runtime/sched.h); everything else runs in the pc loop. */
#ifndef IVM_VM_SCHEDULE_H
#define IVM_VM_SCHEDULE_H

#include "runtime/sched.h"
#include "vm/vm.h"

typedef struct vm_segment {
  uint32_t first, count; /* instructions [first, first + count) */
  rt_sched_graph *graph; /* node k is instruction first + k */
} vm_segment;

typedef struct vm_schedule {
  vm_segment *segments;
  uint32_t n_segments;
  uint32_t *segment_at; /* per instruction: 1 + the segment starting there, or 0 */
} vm_schedule;

/* Plans module m for a session of `threads` threads. IVM_SCHEDULE_AUTO keeps only the
 * segments whose estimated overlap outweighs the scheduler's cost (none with one
 * thread); IVM_SCHEDULE_GRAPH keeps every segment of two or more instructions;
 * IVM_SCHEDULE_SEQUENTIAL none. */
ivm_status vm_schedule_create(const ivm_module *m, int threads, ivm_schedule mode,
                              vm_schedule **out);
void vm_schedule_free(vm_schedule *sc);

/* Estimated nanoseconds for instruction i on one core, from its static shapes. */
double vm_instr_cost_ns(const ivm_module *m, uint32_t i);

#endif
