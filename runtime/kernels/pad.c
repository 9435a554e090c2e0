/* Pad: constant, reflect, edge and wrap modes; negative pads crop. Each output axis
 * gets a table mapping an output coordinate to the input coordinate it copies (-1: the
 * constant). Reflect follows numpy (the edge is not repeated; pads longer than the axis
 * keep reflecting), as the ONNX reference does. */
#include <string.h>

#include "runtime/kernels/shape_util.h"

enum { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP };

static int64_t map_coord(int64_t i, int64_t d, int mode) {
  if (i >= 0 && i < d) return i;
  if (mode == PAD_CONSTANT || d == 0) return -1;
  if (mode == PAD_EDGE) return i < 0 ? 0 : d - 1;
  if (mode == PAD_WRAP) {
    int64_t m = i % d;
    return m < 0 ? m + d : m;
  }
  if (d == 1) return 0;
  int64_t period = 2 * (d - 1), m = i % period;
  if (m < 0) m += period;
  return m < d ? m : period - m;
}

ivm_status rt_k_Pad(const rt_call *call) {
  const rt_tensor *x = call->in[0], *pads = call->in[1];
  const rt_tensor *cv = call->n_in > 2 ? call->in[2] : NULL;
  rt_tensor *y = call->out[0];
  const char *ms = call->attrs[ISA_A_Pad_mode].v.s;
  int mode;
  if (!ms || !strcmp(ms, "constant")) mode = PAD_CONSTANT;
  else if (!strcmp(ms, "reflect")) mode = PAD_REFLECT;
  else if (!strcmp(ms, "edge")) mode = PAD_EDGE;
  else if (!strcmp(ms, "wrap")) mode = PAD_WRAP;
  else return ivm_error(IVM_ERR_RUNTIME, "Pad: unknown mode '%s'", ms);
  int r = x->rank;
  if (y->rank != r || y->dtype != x->dtype || rt_numel(pads) != 2 * r ||
      (cv && (cv->dtype != x->dtype || rt_numel(cv) < 1)))
    return ivm_error(IVM_ERR_RUNTIME, "Pad: operands do not match");
  int64_t before[ISA_MAX_RANK], total_map = 0;
  for (int k = 0; k < r; k++) {
    before[k] = shp_index_at(pads, k);
    if (y->dims[k] != x->dims[k] + before[k] + shp_index_at(pads, k + r))
      return ivm_error(IVM_ERR_RUNTIME, "Pad: output dim %d does not match pads", k);
    if (mode != PAD_CONSTANT && x->dims[k] == 0 && y->dims[k] > 0)
      return ivm_error(IVM_ERR_RUNTIME, "Pad: cannot pad empty axis %d in this mode", k);
    total_map += y->dims[k];
  }
  int64_t total = rt_numel(y);
  if (total == 0) return NULL;
  size_t es = shp_es(y);
  unsigned char *out = y->data;
  const unsigned char *in = x->data;
  static const uint64_t zero = 0;
  const void *value = cv ? cv->data : &zero;
  if (r == 0) {
    memcpy(out, in, es);
    return NULL;
  }
  int64_t *maps;
  IVM_TRY(rt_scratch_get(call->scratch, (size_t)total_map * sizeof(int64_t), (void **)&maps));
  int64_t *map[ISA_MAX_RANK], xs[ISA_MAX_RANK];
  for (int k = 0; k < r; k++) {
    map[k] = maps;
    for (int64_t o = 0; o < y->dims[k]; o++) map[k][o] = map_coord(o - before[k], x->dims[k], mode);
    maps += y->dims[k];
  }
  shp_strides(r, x->dims, xs);
  int64_t inner = y->dims[r - 1], rows = total / inner, cnt[ISA_MAX_RANK] = {0};
  int64_t w = x->dims[r - 1], b = before[r - 1];
  /* Output columns [lo, hi) copy input columns [lo - b, hi - b) in one memcpy. */
  int64_t lo = b > 0 ? b : 0, hi = b + w < inner ? b + w : inner;
  if (hi < lo) hi = lo;
  for (int64_t t = 0; t < rows; t++) {
    unsigned char *dst = out + (size_t)(t * inner) * es;
    int64_t ioff = 0;
    int outside = 0;
    for (int k = 0; k < r - 1; k++) {
      int64_t m = map[k][cnt[k]];
      if (m < 0) outside = 1;
      else ioff += m * xs[k];
    }
    if (outside) {
      shp_fill(dst, value, inner, es);
    } else {
      const unsigned char *src = in + (size_t)ioff * es;
      const int64_t *ml = map[r - 1];
      for (int64_t o = 0; o < lo; o++)
        memcpy(dst + (size_t)o * es, ml[o] < 0 ? value : src + (size_t)ml[o] * es, es);
      if (hi > lo) memcpy(dst + (size_t)lo * es, src + (size_t)(lo - b) * es, (size_t)(hi - lo) * es);
      for (int64_t o = hi; o < inner; o++)
        memcpy(dst + (size_t)o * es, ml[o] < 0 ? value : src + (size_t)ml[o] * es, es);
    }
    for (int k = r - 2; k >= 0; k--) {
      if (++cnt[k] < y->dims[k]) break;
      cnt[k] = 0;
    }
  }
  return NULL;
}
