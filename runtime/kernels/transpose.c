/* Transpose: the permutation is first simplified (size-1 axes dropped, axes that stay
 * adjacent merged), then either whole rows are copied (the innermost axis is unchanged)
 * or the two axes that are innermost on each side are copied in square tiles, so that
 * both reads and writes stay within a few cache lines. */
#include <string.h>

#include "runtime/kernels/shape_util.h"

#define TILE 32

/* Simplifies (dims, perm) of rank r in place; returns the new rank. */
static int collapse(int r, int64_t *dims, int *perm) {
  /* Drop size-1 input axes and renumber the remaining ones. */
  int keep[ISA_MAX_RANK], newid[ISA_MAX_RANK], m = 0;
  for (int k = 0; k < r; k++) {
    newid[k] = dims[k] == 1 ? -1 : m;
    if (dims[k] != 1) keep[m++] = k;
  }
  int p[ISA_MAX_RANK], n = 0;
  for (int j = 0; j < r; j++)
    if (newid[perm[j]] >= 0) p[n++] = newid[perm[j]];
  int64_t d[ISA_MAX_RANK];
  for (int k = 0; k < m; k++) d[k] = dims[keep[k]];
  /* Merge output-adjacent axes that are input-adjacent too. group_of[input axis] is the
   * axis's group when it starts one, -1 when merged into its predecessor. */
  int starts_group[ISA_MAX_RANK];
  for (int k = 0; k < m; k++) starts_group[k] = 1;
  for (int j = 1; j < n; j++)
    if (p[j] == p[j - 1] + 1) starts_group[p[j]] = 0;
  int gid[ISA_MAX_RANK], g = 0;
  int64_t gd[ISA_MAX_RANK];
  for (int k = 0; k < m; k++) {
    if (starts_group[k]) {
      gid[k] = g;
      gd[g++] = d[k];
    } else {
      gid[k] = g - 1;
      gd[g - 1] *= d[k];
    }
  }
  int q = 0;
  for (int j = 0; j < n; j++)
    if (starts_group[p[j]]) perm[q++] = gid[p[j]];
  for (int k = 0; k < g; k++) dims[k] = gd[k];
  return g;
}

/* out[j*oj + l] = in[j + l*sl] for a tile of nj x nl elements of es bytes. */
#define TILE_LOOP_(ES)                                                                  \
  for (int64_t j0 = 0; j0 < nj; j0 += TILE)                                             \
    for (int64_t l0 = 0; l0 < nl; l0 += TILE) {                                         \
      int64_t je = j0 + TILE < nj ? j0 + TILE : nj, le = l0 + TILE < nl ? l0 + TILE : nl; \
      for (int64_t j = j0; j < je; j++)                                                 \
        for (int64_t l = l0; l < le; l++)                                               \
          memcpy(out + (j * oj + l) * ES, in + (j + l * sl) * ES, ES);                  \
    }                                                                                   \
  break;

static void tile2d(unsigned char *out, const unsigned char *in, int64_t nj, int64_t oj,
                   int64_t nl, int64_t sl, size_t es) {
  switch (es) {
    case 1: TILE_LOOP_(1)
    case 2: TILE_LOOP_(2)
    case 4: TILE_LOOP_(4)
    case 8: TILE_LOOP_(8)
    default:
      for (int64_t j = 0; j < nj; j++)
        for (int64_t l = 0; l < nl; l++)
          memcpy(out + (size_t)(j * oj + l) * es, in + (size_t)(j + l * sl) * es, es);
  }
}

ivm_status rt_k_Transpose(const rt_call *call) {
  const rt_tensor *x = call->in[0];
  rt_tensor *y = call->out[0];
  const isa_attr *pa = &call->attrs[ISA_A_Transpose_perm];
  int r = x->rank;
  size_t es = shp_es(x);
  int perm[ISA_MAX_RANK];
  int64_t dims[ISA_MAX_RANK];
  if (y->rank != r || y->dtype != x->dtype || (pa->count && (int)pa->count != r))
    return ivm_error(IVM_ERR_RUNTIME, "Transpose: output type does not match the input");
  for (int j = 0; j < r; j++) {
    perm[j] = pa->count ? (int)pa->v.ints[j] : r - 1 - j;
    if (perm[j] < 0 || perm[j] >= r || y->dims[j] != x->dims[perm[j]])
      return ivm_error(IVM_ERR_RUNTIME, "Transpose: output shape does not match perm");
  }
  int64_t total = rt_numel(x);
  if (total == 0) return NULL;
  memcpy(dims, x->dims, sizeof dims);
  int m = collapse(r, dims, perm);
  const unsigned char *in = x->data;
  unsigned char *out = y->data;
  if (m <= 1) {
    memcpy(out, in, (size_t)total * es);
    return NULL;
  }
  int64_t istr[ISA_MAX_RANK], odims[ISA_MAX_RANK], ostr[ISA_MAX_RANK], is_o[ISA_MAX_RANK];
  shp_strides(m, dims, istr);
  for (int j = 0; j < m; j++) {
    odims[j] = dims[perm[j]];
    is_o[j] = istr[perm[j]]; /* input stride of output axis j */
  }
  shp_strides(m, odims, ostr);

  /* Output axes handled by the inner copy: L (output-contiguous) and, when the input's
   * innermost axis moved, J (input-contiguous). The rest run an odometer. */
  int L = m - 1, J = -1;
  for (int j = 0; j < m; j++)
    if (perm[j] == m - 1) J = j;
  if (J == L) J = -1; /* innermost axis unchanged: copy whole rows */
  int ax[ISA_MAX_RANK], na = 0;
  for (int j = 0; j < m; j++)
    if (j != L && j != J) ax[na++] = j;
  int64_t cnt[ISA_MAX_RANK] = {0}, ioff = 0, ooff = 0, outer = 1;
  for (int a = 0; a < na; a++) outer *= odims[ax[a]];
  for (int64_t t = 0; t < outer; t++) {
    if (J < 0)
      shp_copy_strided(out + (size_t)ooff * es, in + (size_t)ioff * es, odims[L], is_o[L], es);
    else
      tile2d(out + (size_t)ooff * es, in + (size_t)ioff * es, odims[J], ostr[J], odims[L],
             is_o[L], es);
    for (int a = na - 1; a >= 0; a--) {
      int j = ax[a];
      ioff += is_o[j];
      ooff += ostr[j];
      if (++cnt[a] < odims[j]) break;
      ioff -= is_o[j] * odims[j];
      ooff -= ostr[j] * odims[j];
      cnt[a] = 0;
    }
  }
  return NULL;
}
