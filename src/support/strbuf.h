/* strbuf.h - a growable, always NUL-terminated string builder. */
#ifndef MLCC_SUPPORT_STRBUF_H
#define MLCC_SUPPORT_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

#include "support/error.h"

typedef struct mlcc_strbuf {
    char *data; /* NUL-terminated when len > 0 or after any append */
    size_t len, cap;
} mlcc_strbuf;

#define STRBUF_INIT {NULL, 0, 0}

void sb_reserve(mlcc_strbuf *sb, size_t extra);
void sb_append(mlcc_strbuf *sb, const char *s);
void sb_append_n(mlcc_strbuf *sb, const char *s, size_t n);
void sb_append_char(mlcc_strbuf *sb, char c);
void sb_printf(mlcc_strbuf *sb, const char *fmt, ...) MLCC_PRINTF(2, 3);
void sb_vprintf(mlcc_strbuf *sb, const char *fmt, va_list ap);
/* Appends `count` spaces (indentation for printers). */
void sb_indent(mlcc_strbuf *sb, int count);
/* Returns the contents ("" when empty; never NULL); the buffer stays owned by sb. */
const char *sb_cstr(mlcc_strbuf *sb);
/* Hands the string to the caller (free() it) and resets sb. */
char *sb_detach(mlcc_strbuf *sb);
void sb_clear(mlcc_strbuf *sb);
void sb_free(mlcc_strbuf *sb);

#endif
