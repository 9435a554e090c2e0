/* Index-family helpers shared by inference (isa/infer_index.c) and the kernels
 * (runtime/kernels/index*.c): Unique and NonMaxSuppression run the same code in both,
 * so the output sizes inference computes are the sizes the kernels fill. */
#ifndef IVM_ISA_INFER_INDEX_H
#define IVM_ISA_INFER_INDEX_H

#include <stdint.h>

#include "isa/status.h"

typedef int (*isa_index_less_fn)(const void *ctx, int64_t a, int64_t b);
/* Stable merge sort of v[0..n) by less; tmp holds n entries. */
void isa_index_msort(int64_t *v, int64_t *tmp, int64_t n, isa_index_less_fn less,
                     const void *ctx);
int isa_index_elem_cmp(int dt, const void *a, int64_t i, const void *b, int64_t j);
int64_t isa_index_unique(int dt, const void *x, int64_t outer, int64_t n, int64_t inner,
                         int sorted, int64_t *work, int64_t *first, int64_t *inverse,
                         int64_t *counts);
ivm_status isa_index_nms(const void *boxes, const void *scores, int64_t nb, int64_t nc,
                         int64_t ns, int64_t max_out, float iou_th, int has_score_th,
                         float score_th, int center, int64_t *work, int64_t *sel, int64_t cap,
                         int64_t *count);

#endif
