/* dtype_name.c - data type names (see dtype_name.h). */
#include "support/dtype_name.h"

#include <stdlib.h>
#include <string.h>

#include "support/error.h"

int mlcc_dtype_name_parse(const char *s, uint8_t *code, uint8_t *bits, uint16_t *lanes) {
    static const struct {
        const char *prefix;
        uint8_t code;
    } names[] = {{"bfloat", 4}, {"float", 2}, {"uint", 1}, {"int", 0},
                 {"bf", 4},     {"f", 2},     {"u", 1},    {"i", 0}};
    *lanes = 1;
    if (strcmp(s, "bool") == 0) return *code = 1, *bits = 1, 0;
    if (strcmp(s, "handle") == 0) return *code = 3, *bits = 64, 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        size_t n = strlen(names[i].prefix);
        if (strncmp(s, names[i].prefix, n) != 0) continue;
        char *end;
        long b = strtol(s + n, &end, 10);
        if (end == s + n || b <= 0 || b > 64) break;
        long l = 1;
        if (*end == 'x') l = strtol(end + 1, &end, 10);
        if (*end || l < 1 || l > 1024) break;
        *code = names[i].code;
        *bits = (uint8_t)b;
        *lanes = (uint16_t)l;
        return 0;
    }
    return mlcc_set_error("unknown data type '%s'", s);
}
