#include "isa/dtype.h"

#include <string.h>

static const struct {
  int dtype;
  const char *name;
  size_t size;
} dtypes[] = {
    {IVM_DT_F32, "f32", 4},  {IVM_DT_U8, "u8", 1},     {IVM_DT_I8, "i8", 1},
    {IVM_DT_U16, "u16", 2},  {IVM_DT_I16, "i16", 2},   {IVM_DT_I32, "i32", 4},
    {IVM_DT_I64, "i64", 8},  {IVM_DT_BOOL, "bool", 1}, {IVM_DT_F16, "f16", 2},
    {IVM_DT_F64, "f64", 8},  {IVM_DT_U32, "u32", 4},   {IVM_DT_U64, "u64", 8},
    {IVM_DT_BF16, "bf16", 2},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

int isa_dtype_valid(int dt) {
  for (size_t i = 0; i < N_DTYPES; i++)
    if (dtypes[i].dtype == dt) return 1;
  return 0;
}

const char *ivm_dtype_name(ivm_dtype dt) {
  for (size_t i = 0; i < N_DTYPES; i++)
    if (dtypes[i].dtype == (int)dt) return dtypes[i].name;
  return "?";
}

size_t ivm_dtype_size(ivm_dtype dt) {
  for (size_t i = 0; i < N_DTYPES; i++)
    if (dtypes[i].dtype == (int)dt) return dtypes[i].size;
  return 0;
}

int isa_dtype_from_name(const char *name) {
  for (size_t i = 0; i < N_DTYPES; i++)
    if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].dtype;
  return IVM_DT_NONE;
}

int isa_dtype_is_float(int dt) {
  return dt == IVM_DT_F32 || dt == IVM_DT_F64 || dt == IVM_DT_F16 || dt == IVM_DT_BF16;
}

int isa_dtype_is_int(int dt) {
  switch (dt) {
    case IVM_DT_U8: case IVM_DT_I8: case IVM_DT_U16: case IVM_DT_I16: case IVM_DT_I32:
    case IVM_DT_I64: case IVM_DT_U32: case IVM_DT_U64: return 1;
    default: return 0;
  }
}

int isa_dtype_is_signed(int dt) {
  return isa_dtype_is_float(dt) || dt == IVM_DT_I8 || dt == IVM_DT_I16 || dt == IVM_DT_I32 ||
         dt == IVM_DT_I64;
}

float isa_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else { /* subnormal: renormalise */
      exp = 127 - 15 + 1;
      while (!(man & 0x400)) { man <<= 1; exp--; }
      man &= 0x3ff;
      bits = sign | (exp << 23) | (man << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp - 15 + 127) << 23) | (man << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t isa_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  int32_t exp = (int32_t)((x >> 23) & 0xff);
  uint32_t man = x & 0x7fffff;
  if (exp == 255) return (uint16_t)(sign | 0x7c00 | (man ? 0x200 : 0));
  exp = exp - 127 + 15;
  if (exp >= 31) return (uint16_t)(sign | 0x7c00);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    man |= 0x800000;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t half = man >> shift, rem = man & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1))) half++;
    return (uint16_t)(sign | half);
  }
  uint32_t h = sign | ((uint32_t)exp << 10) | (man >> 13), rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return (uint16_t)h;
}

float isa_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

uint16_t isa_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);
  x += 0x7fff + ((x >> 16) & 1);
  return (uint16_t)(x >> 16);
}
