/* dtype.c - data type names (see dtype.h). */
#include "ir/dtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/dtype_name.h"
#include "support/error.h"

const char *dtype_str(mlcc_dtype t, char *buf) {
    const char *base;
    if (dtype_is_void(t)) return strcpy(buf, "void");
    if (dtype_is_bool(t)) base = "bool";
    else if (t.code == DT_HANDLE) base = "handle";
    else base = t.code == DT_INT ? "int" : t.code == DT_UINT ? "uint" : t.code == DT_FLOAT ? "float" : "bfloat";
    if (dtype_is_bool(t) || t.code == DT_HANDLE) snprintf(buf, 24, "%s", base);
    else snprintf(buf, 24, "%s%d", base, t.bits);
    if (t.lanes > 1) snprintf(buf + strlen(buf), 24 - strlen(buf), "x%d", t.lanes);
    return buf;
}

int dtype_parse(const char *s, mlcc_dtype *out) {
    if (strcmp(s, "void") == 0) return *out = DT_VOID, 0;
    uint8_t code, bits;
    uint16_t lanes;
    if (mlcc_dtype_name_parse(s, &code, &bits, &lanes) != 0) return -1;
    *out = dtype_make((mlcc_dtype_code)code, bits, lanes);
    return 0;
}
