/* json.h - jansson helpers that name the file, line and column of a problem. */
#ifndef MLCC_SUPPORT_JSON_H
#define MLCC_SUPPORT_JSON_H

#include <jansson.h>

/* Loads a JSON file; NULL with "PATH:LINE:COL: message" recorded on failure. */
json_t *mlcc_json_load_file(const char *path);
/* Parses text; `what` names it in errors. */
json_t *mlcc_json_loads(const char *text, size_t len, const char *what);

#endif
