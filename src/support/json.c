/* json.c - jansson helpers that name the file, line and column of a problem (see json.h). */
#include "support/json.h"

#include <stdlib.h>
#include <string.h>

#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"

/* Python's json (and so Hugging Face files) allows integers of any size, e.g.
 * "model_max_length": 1000000000000000019884624838656. jansson refuses integers beyond int64,
 * so such a literal is rewritten as a real (digits + ".0") before a second parse; every other
 * byte stays as it was, so positions in later errors still match the file. */
static char *widen_big_integers(const char *text, size_t len, size_t *out_len) {
    mlcc_strbuf out = STRBUF_INIT;
    int in_string = 0;
    for (size_t i = 0; i < len;) {
        char c = text[i];
        if (in_string) {
            sb_append_char(&out, c);
            if (c == '\\' && i + 1 < len) sb_append_char(&out, text[++i]);
            else if (c == '"') in_string = 0;
            i++;
            continue;
        }
        if (c == '"') {
            in_string = 1;
            sb_append_char(&out, c);
            i++;
            continue;
        }
        int starts_number = (c >= '0' && c <= '9') || (c == '-' && i + 1 < len && text[i + 1] >= '0' && text[i + 1] <= '9');
        if (!starts_number) {
            sb_append_char(&out, c);
            i++;
            continue;
        }
        size_t j = i + (c == '-');
        while (j < len && text[j] >= '0' && text[j] <= '9') j++;
        int is_integer = j >= len || (text[j] != '.' && text[j] != 'e' && text[j] != 'E');
        size_t digits = j - i - (c == '-');
        sb_append_n(&out, text + i, j - i);
        if (is_integer && digits > 18) sb_append(&out, ".0");
        i = j;
    }
    *out_len = out.len;
    return sb_detach(&out);
}

json_t *mlcc_json_loads(const char *text, size_t len, const char *what) {
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!j && strstr(err.text, "too big integer")) {
        size_t wide_len;
        char *wide = widen_big_integers(text, len, &wide_len);
        j = json_loadb(wide, wide_len, JSON_ALLOW_NUL, &err);
        free(wide);
    }
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

json_t *mlcc_json_string_lossy(const char *s, size_t len) {
    json_t *v = json_stringn(s ? s : "", s ? len : 0);
    if (v) return v;
    /* slow path: keep each sequence jansson accepts on its own, replace each other byte */
    mlcc_strbuf clean = STRBUF_INIT;
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        json_t *one = n && i + n <= len ? json_stringn(s + i, n) : NULL;
        if (one) {
            sb_append_n(&clean, s + i, n);
            json_decref(one);
            i += n;
        } else {
            sb_append(&clean, "\xEF\xBF\xBD");
            i++;
        }
    }
    v = json_stringn(sb_cstr(&clean), clean.len);
    sb_free(&clean);
    return v ? v : json_string("");
}
