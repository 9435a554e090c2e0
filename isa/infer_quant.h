/* Quantisation-parameter layout shared by QuantizeLinear / DequantizeLinear inference and
 * their kernels, so that the shapes the verifier accepts and the indexing the kernels do
 * come from one computation. */
#ifndef IVM_ISA_INFER_QUANT_H
#define IVM_ISA_INFER_QUANT_H

#include "isa/op.h"

typedef enum { ISA_QL_TENSOR = 0, ISA_QL_AXIS = 1, ISA_QL_BLOCK = 2 } isa_qlayout_mode;

/* x viewed as (outer, n, inner) around `axis`. The parameter of element (o, i, r) is
 *   TENSOR: 0;  AXIS: i;  BLOCK: (o * nblk + i / block) * inner + r. */
typedef struct isa_qlayout {
  int mode;
  int64_t outer, n, inner;
  int64_t block, nblk;
} isa_qlayout;

/* Classifies a scale (or zero point) of shape (p_rank, p_dims) against x (x_rank, x_dims),
 * all dims known and >= 0. One element with rank <= 1 is per-tensor (block_size must then
 * be 0 or the layout must also fit as blocked); otherwise block_size == 0 needs a 1-D
 * parameter of length dims[axis], block_size > 0 x's rank with dims[axis] =
 * ceil(x dims[axis] / block_size) and the other dims equal. Errors are
 * IVM_ERR_INVALID_ARGUMENT. */
ivm_status isa_quant_layout(int x_rank, const int64_t *x_dims, int p_rank, const int64_t *p_dims,
                            int64_t axis, int64_t block_size, isa_qlayout *out);

/* A loss op's reduction attribute at slot: 0 none, 1 sum, 2 mean; -1 if unknown. */
int isa_quant_reduction(const isa_attr *attrs, int slot);

#endif
