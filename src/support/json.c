/* json.c - jansson helpers that name the file, line and column of a problem (see json.h). */
#include "support/json.h"

#include <stdlib.h>

#include "support/error.h"
#include "support/file.h"

json_t *mlcc_json_loads(const char *text, size_t len, const char *what) {
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!j) mlcc_set_error("%s:%d:%d: %s", what, err.line, err.column, err.text);
    return j;
}

json_t *mlcc_json_load_file(const char *path) {
    size_t len;
    char *text = mlcc_read_file(path, &len);
    if (!text) return NULL;
    json_t *j = mlcc_json_loads(text, len, path);
    free(text);
    return j;
}
