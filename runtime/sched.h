/* The dynamic scheduler: runs a dependency graph of instructions on per-device queues.
 *
 * A graph is built once (at session creation) from what each node reads and writes,
 * given as ranges of an address space: an edge goes from every earlier node that
 * wrote a range to each later reader (data), and from every earlier reader or writer of
 * a range to each later writer (so that storage the memory planner reuses is not
 * overwritten while still read). Each node carries an estimated cost; its priority is the
 * cost of the longest path from it to the end of the graph (critical path first).
 *
 * At run time every node whose predecessors have completed is ready, and goes to the
 * queue, among those that accept it, with the least load (estimated nanoseconds queued
 * or running) plus the node's cost. A queue runs its nodes when it can and reports each
 * completion with rt_sched_complete, which makes successors ready. The CPU queue
 * (rt_sched_cpu_*) is drained by the threads of the worker pool (rt_pool_serve), which
 * also split large nodes into ranges (rt_pool_for) that any idle thread may take; a GPU
 * queue would hand nodes to a device stream and complete them from its callback.
 *
 * A graph whose potential overlap is too small runs as a plain loop instead: the caller
 * decides with rt_sched_graph_stats. */
#ifndef IVM_RUNTIME_SCHED_H
#define IVM_RUNTIME_SCHED_H

#include <stdatomic.h>
#include <stdint.h>

#include "isa/status.h"
#include "runtime/pool.h"

/* One range of the address space a node reads or writes: [begin, end). */
typedef struct rt_sched_access {
  uint64_t begin, end;
  uint8_t write;
} rt_sched_access;

typedef struct rt_sched_graph rt_sched_graph;

/* n nodes in program order; node i accesses acc[acc_start[i] .. acc_start[i+1]) and costs
 * cost_ns[i]. The graph keeps no pointer to the arguments. */
ivm_status rt_sched_graph_build(uint32_t n, const uint32_t *acc_start,
                                const rt_sched_access *acc, const double *cost_ns,
                                rt_sched_graph **out);
void rt_sched_graph_free(rt_sched_graph *g);

typedef struct rt_sched_graph_stats {
  uint32_t nodes, edges;
  double total_ns;    /* sum of the costs */
  double critical_ns; /* the longest cost path: the time with unlimited threads */
} rt_sched_graph_stats;
void rt_sched_graph_stats_get(const rt_sched_graph *g, rt_sched_graph_stats *out);
/* Node i's predecessors (for tests and tools): count, and the k-th of them. */
uint32_t rt_sched_graph_preds(const rt_sched_graph *g, uint32_t i, const uint32_t **preds);

/* ---- queues ----------------------------------------------------------------------- */
typedef struct rt_sched_run rt_sched_run;

/* A device queue. accepts: whether it can run node i (NULL: every node). load_ns: its
 * current load. push: node i is ready; the queue runs it and then calls
 * rt_sched_complete. Calls may come from any thread. */
typedef struct rt_sched_queue {
  const char *device;
  void *self;
  int (*accepts)(void *self, uint32_t node);
  double (*load_ns)(void *self);
  void (*push)(void *self, rt_sched_run *run, uint32_t node, double priority, double cost_ns);
} rt_sched_queue;

/* Reports that node i finished with status st (NULL: success). Takes st. */
void rt_sched_complete(rt_sched_run *run, uint32_t node, ivm_status st);

/* The CPU queue: a priority heap the pool's threads take nodes from. exec runs node i on
 * pool lane `lane` (0..threads-1) and returns its status. */
typedef ivm_status (*rt_sched_exec_fn)(void *ctx, uint32_t node, int lane);
typedef struct rt_sched_cpu rt_sched_cpu;
ivm_status rt_sched_cpu_create(const rt_sched_graph *g, rt_pool *pool, rt_sched_exec_fn exec,
                               void *ctx, rt_sched_cpu **out);
void rt_sched_cpu_free(rt_sched_cpu *q);
const rt_sched_queue *rt_sched_cpu_queue(rt_sched_cpu *q);

/* Runs the whole graph once on the given queues (at least one must accept each node)
 * and returns when every node completed, or, after a failure, when the nodes already
 * running have finished: then the first failure is returned and nodes after it did not
 * run. The CPU queue's threads run while this call lasts. */
ivm_status rt_sched_execute(const rt_sched_graph *g, rt_sched_cpu *cpu,
                            const rt_sched_queue *const *extra_queues, int n_extra);

#endif
