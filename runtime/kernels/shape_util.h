/* Byte-moving helpers shared by the shape / data-movement kernels. Elements are treated
 * as opaque blocks of 1, 2, 4 or 8 bytes, so one code path serves every dtype. Copies go
 * through fixed-size memcpy, which compiles to plain loads/stores without alignment or
 * aliasing assumptions. */
#ifndef IVM_RUNTIME_KERNELS_SHAPE_UTIL_H
#define IVM_RUNTIME_KERNELS_SHAPE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "runtime/rt.h"

static inline size_t shp_es(const rt_tensor *t) { return ivm_dtype_size((ivm_dtype)t->dtype); }

/* Row-major element strides of dims[0:r]. */
static inline void shp_strides(int r, const int64_t *dims, int64_t *strides) {
  int64_t s = 1;
  for (int k = r - 1; k >= 0; k--) {
    strides[k] = s;
    s *= dims[k];
  }
}

/* dst[i] = src[i * sstride] for i in [0, n); sstride in elements, may be 0 or negative. */
static inline void shp_copy_strided(unsigned char *dst, const unsigned char *src, int64_t n,
                                    int64_t sstride, size_t es) {
  if (n <= 0) return;
  if (sstride == 1) {
    memcpy(dst, src, (size_t)n * es);
    return;
  }
#define SHP_LOOP_(ES)                                                    \
  for (int64_t i = 0; i < n; i++)                                        \
    memcpy(dst + (ptrdiff_t)i * ES, src + (ptrdiff_t)(i * sstride) * ES, ES); \
  break;
  switch (es) {
    case 1: SHP_LOOP_(1)
    case 2: SHP_LOOP_(2)
    case 4: SHP_LOOP_(4)
    case 8: SHP_LOOP_(8)
    default:
      for (int64_t i = 0; i < n; i++)
        memcpy(dst + (ptrdiff_t)i * (ptrdiff_t)es, src + (ptrdiff_t)(i * sstride) * (ptrdiff_t)es, es);
  }
#undef SHP_LOOP_
}

/* Fills n elements at dst with the element at value (es bytes), doubling the filled
 * prefix so that the work is a handful of large memcpys. */
static inline void shp_fill(unsigned char *dst, const void *value, int64_t n, size_t es) {
  if (n <= 0) return;
  size_t total = (size_t)n * es, done = es;
  memcpy(dst, value, es);
  while (done < total) {
    size_t c = done < total - done ? done : total - done;
    memcpy(dst + done, dst, c);
    done += c;
  }
}

/* Axis in [-r, r) normalised to [0, r); -1 if out of range. */
static inline int shp_axis(int64_t axis, int r) {
  if (axis < -(int64_t)r || axis >= r) return -1;
  return (int)(axis < 0 ? axis + r : axis);
}

/* Element k of an i32 or i64 tensor. */
static inline int64_t shp_index_at(const rt_tensor *t, int64_t k) {
  if (t->dtype == IVM_DT_I32) {
    int32_t v;
    memcpy(&v, (const unsigned char *)t->data + 4 * k, 4);
    return v;
  }
  int64_t v;
  memcpy(&v, (const unsigned char *)t->data + 8 * k, 8);
  return v;
}

#endif
