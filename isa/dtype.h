/* Element types. Numbered as ONNX's TensorProto.DataType so Cast's `to` maps directly. */
#ifndef IVM_ISA_DTYPE_H
#define IVM_ISA_DTYPE_H

#include <stddef.h>
#include <stdint.h>

#include "ivm/ivm.h"

#define ISA_MAX_RANK IVM_MAX_RANK

int isa_dtype_valid(int dtype); /* one of the 13 element types IVM knows */
int isa_dtype_is_float(int dtype);   /* f16, bf16, f32, f64 */
int isa_dtype_is_int(int dtype);     /* signed or unsigned integers (not bool) */
int isa_dtype_is_signed(int dtype);  /* signed ints and floats */
/* Parses "f32", "i64", ... as printed by ivm_dtype_name; returns IVM_DT_NONE if unknown. */
int isa_dtype_from_name(const char *name);

/* f16 / bf16 <-> f32 conversions (round to nearest even). */
float isa_f16_to_f32(uint16_t h);
uint16_t isa_f32_to_f16(float f);
float isa_bf16_to_f32(uint16_t h);
uint16_t isa_f32_to_bf16(float f);

#endif
