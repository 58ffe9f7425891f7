/* dtype.h - scalar and vector data types of the IR: a code (int, uint, float, bfloat, handle),
 * a bit width and a lane count, as DLPack's DLDataType. `bool` is uint1. */
#ifndef MLCC_IR_DTYPE_H
#define MLCC_IR_DTYPE_H

#include <stdint.h>

typedef enum {
    DT_INT = 0,
    DT_UINT = 1,
    DT_FLOAT = 2,
    DT_HANDLE = 3,
    DT_BFLOAT = 4,
} mlcc_dtype_code;

typedef struct mlcc_dtype {
    uint8_t code;
    uint8_t bits;
    uint16_t lanes;
} mlcc_dtype;

static inline mlcc_dtype dtype_make(mlcc_dtype_code code, int bits, int lanes) {
    mlcc_dtype t = {(uint8_t)code, (uint8_t)bits, (uint16_t)lanes};
    return t;
}
#define DT_I32 dtype_make(DT_INT, 32, 1)
#define DT_I64 dtype_make(DT_INT, 64, 1)
#define DT_F16 dtype_make(DT_FLOAT, 16, 1)
#define DT_BF16 dtype_make(DT_BFLOAT, 16, 1)
#define DT_F32 dtype_make(DT_FLOAT, 32, 1)
#define DT_F64 dtype_make(DT_FLOAT, 64, 1)
#define DT_BOOL dtype_make(DT_UINT, 1, 1)
#define DT_U8 dtype_make(DT_UINT, 8, 1)
#define DT_U32 dtype_make(DT_UINT, 32, 1)
#define DT_HANDLE_T dtype_make(DT_HANDLE, 64, 1)
#define DT_VOID dtype_make(DT_HANDLE, 0, 0)

static inline int dtype_eq(mlcc_dtype a, mlcc_dtype b) {
    return a.code == b.code && a.bits == b.bits && a.lanes == b.lanes;
}
static inline int dtype_is_int(mlcc_dtype t) { return t.code == DT_INT || (t.code == DT_UINT && t.bits > 1); }
static inline int dtype_is_float(mlcc_dtype t) { return t.code == DT_FLOAT || t.code == DT_BFLOAT; }
static inline int dtype_is_bool(mlcc_dtype t) { return t.code == DT_UINT && t.bits == 1; }
static inline int dtype_is_void(mlcc_dtype t) { return t.code == DT_HANDLE && t.bits == 0; }
static inline mlcc_dtype dtype_with_lanes(mlcc_dtype t, int lanes) {
    t.lanes = (uint16_t)lanes;
    return t;
}
static inline mlcc_dtype dtype_element(mlcc_dtype t) { return dtype_with_lanes(t, 1); }
/* Bytes of one lane (bool counts as one byte in memory). */
static inline int dtype_bytes(mlcc_dtype t) { return t.bits < 8 ? 1 : t.bits / 8; }

/* "float32", "int64x4", "bool", "handle"; into buf (>= 24 bytes); returns buf. */
const char *dtype_str(mlcc_dtype t, char *buf);
/* Parses the same names ("float16", "f16", "bf16", "int32", "i32", ...); 0 on success. */
int dtype_parse(const char *s, mlcc_dtype *out);

#endif
