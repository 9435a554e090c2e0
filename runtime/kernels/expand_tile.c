/* Expand (broadcast to a shape) and Tile (repeat along each axis). Both walk the output
 * row by row (all axes but the last) and fill each row from one input row. */
#include <string.h>

#include "runtime/kernels/shape_util.h"

ivm_status rt_k_Expand(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  int R = y->rank, r = x->rank;
  if (r > R || y->dtype != x->dtype)
    return ivm_error(IVM_ERR_RUNTIME, "Expand: output does not match the input");
  /* Input strides aligned to the output's axes; 0 where the input broadcasts. */
  int64_t xs[ISA_MAX_RANK], is[ISA_MAX_RANK];
  shp_strides(r, x->dims, xs);
  for (int k = 0; k < R; k++) {
    int xk = k - (R - r);
    int64_t d = xk >= 0 ? x->dims[xk] : 1;
    if (d != 1 && d != y->dims[k])
      return ivm_error(IVM_ERR_RUNTIME, "Expand: cannot broadcast dim %lld to %lld",
                       (long long)d, (long long)y->dims[k]);
    is[k] = d == 1 ? 0 : xs[xk];
  }
  int64_t total = rt_numel(y);
  if (total == 0) return NULL;
  size_t es = shp_es(y);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  if (R == 0) {
    memcpy(out, in, es);
    return NULL;
  }
  int64_t inner = y->dims[R - 1], rows = total / inner, cnt[ISA_MAX_RANK] = {0}, ioff = 0;
  for (int64_t t = 0; t < rows; t++) {
    unsigned char *dst = out + (size_t)(t * inner) * es;
    if (is[R - 1] == 0) shp_fill(dst, in + (size_t)ioff * es, inner, es);
    else memcpy(dst, in + (size_t)ioff * es, (size_t)inner * es);
    for (int k = R - 2; k >= 0; k--) {
      ioff += is[k];
      if (++cnt[k] < y->dims[k]) break;
      ioff -= is[k] * y->dims[k];
      cnt[k] = 0;
    }
  }
  return NULL;
}

ivm_status rt_k_Tile(const rt_call *call) {
  const rt_tensor *x = call->in[0], *rep = call->in[1];
  rt_tensor *y = call->out[0];
  int r = x->rank;
  if (y->rank != r || y->dtype != x->dtype || rt_numel(rep) != r)
    return ivm_error(IVM_ERR_RUNTIME, "Tile: output does not match the input");
  for (int k = 0; k < r; k++)
    if (y->dims[k] != x->dims[k] * shp_index_at(rep, k))
      return ivm_error(IVM_ERR_RUNTIME, "Tile: output dim %d does not match repeats", k);
  int64_t total = rt_numel(y);
  if (total == 0) return NULL;
  size_t es = shp_es(y);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  if (r == 0) {
    memcpy(out, in, es);
    return NULL;
  }
  int64_t xs[ISA_MAX_RANK], cnt[ISA_MAX_RANK] = {0};
  shp_strides(r, x->dims, xs);
  int64_t w = x->dims[r - 1], inner = y->dims[r - 1], rows = total / inner;
  size_t wb = (size_t)w * es;
  for (int64_t t = 0; t < rows; t++) {
    int64_t ioff = 0;
    for (int k = 0; k < r - 1; k++) ioff += (cnt[k] % x->dims[k]) * xs[k];
    unsigned char *dst = out + (size_t)(t * inner) * es;
    /* One input row, then doubling copies of it. */
    memcpy(dst, in + (size_t)ioff * es, wb);
    size_t done = wb, all = (size_t)inner * es;
    while (done < all) {
      size_t c = done < all - done ? done : all - done;
      memcpy(dst + done, dst, c);
      done += c;
    }
    for (int k = r - 2; k >= 0; k--) {
      if (++cnt[k] < y->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return NULL;
}
