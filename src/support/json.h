/* json.h - jansson helpers that name the file, line and column of a problem. */
#ifndef MLCC_SUPPORT_JSON_H
#define MLCC_SUPPORT_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Loads a JSON file; NULL with "PATH:LINE:COL: message" recorded on failure. */
json_t *mlcc_json_load_file(const char *path);
/* Parses text; `what` names it in errors. */
json_t *mlcc_json_loads(const char *text, size_t len, const char *what);
/* A JSON string of len bytes (s may be NULL when len is 0) in which every byte that is not part
 * of valid UTF-8 becomes U+FFFD: jansson refuses invalid UTF-8, and text from outside (a
 * request, generated tokens, a parser's error that quotes either) must still become JSON. */
json_t *mlcc_json_string_lossy(const char *s, size_t len);

#endif
