/* dtype.c - data type names (see dtype.h). */
#include "ir/dtype.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    static const struct {
        const char *prefix;
        mlcc_dtype_code code;
    } names[] = {{"bfloat", DT_BFLOAT}, {"float", DT_FLOAT}, {"uint", DT_UINT}, {"int", DT_INT},
                 {"bf", DT_BFLOAT},     {"f", DT_FLOAT},     {"u", DT_UINT},    {"i", DT_INT}};
    if (strcmp(s, "bool") == 0) return *out = DT_BOOL, 0;
    if (strcmp(s, "handle") == 0) return *out = DT_HANDLE_T, 0;
    if (strcmp(s, "void") == 0) return *out = DT_VOID, 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].prefix);
        if (strncmp(s, names[i].prefix, n) != 0) continue;
        char *end;
        long bits = strtol(s + n, &end, 10);
        if (end == s + n || bits <= 0 || bits > 64) break;
        long lanes = 1;
        if (*end == 'x') lanes = strtol(end + 1, &end, 10);
        if (*end || lanes < 1 || lanes > 1024) break;
        *out = dtype_make(names[i].code, (int)bits, (int)lanes);
        return 0;
    }
    return mlcc_set_error("unknown data type '%s'", s);
}
