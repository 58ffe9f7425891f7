/* dtype_name.h - the text names of data types ("float32", "f16", "bf16", "int64x4", "bool",
 * "handle"), shared by the IR's mlcc_dtype and the runtime's DLDataType, which use the same
 * type codes (DLPack's: int 0, uint 1, float 2, handle 3, bfloat 4). */
#ifndef MLCC_SUPPORT_DTYPE_NAME_H
#define MLCC_SUPPORT_DTYPE_NAME_H

#include <stdint.h>

/* 0 with the code, bits and lanes of the name; -1 with an error naming it when unknown. */
int mlcc_dtype_name_parse(const char *s, uint8_t *code, uint8_t *bits, uint16_t *lanes);

#endif
