/* strbuf.c - a growable string builder (see strbuf.h). */
#include "support/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

void sb_reserve(mlcc_strbuf *sb, size_t extra) {
    size_t need = sb->len + extra + 1;
    if (need <= sb->cap) return;
    size_t cap = sb->cap ? sb->cap * 2 : 64;
    while (cap < need) cap *= 2;
    sb->data = mlcc_xrealloc(sb->data, cap);
    sb->cap = cap;
}

void sb_append_n(mlcc_strbuf *sb, const char *s, size_t n) {
    sb_reserve(sb, n);
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
}

void sb_append(mlcc_strbuf *sb, const char *s) {
    sb_append_n(sb, s, strlen(s));
}

void sb_append_char(mlcc_strbuf *sb, char c) {
    sb_append_n(sb, &c, 1);
}

void sb_vprintf(mlcc_strbuf *sb, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    sb_reserve(sb, (size_t)n);
    vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
    sb->len += (size_t)n;
}

void sb_printf(mlcc_strbuf *sb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    sb_vprintf(sb, fmt, ap);
    va_end(ap);
}

void sb_indent(mlcc_strbuf *sb, int count) {
    sb_reserve(sb, (size_t)(count > 0 ? count : 0));
    for (int i = 0; i < count; i++) sb->data[sb->len++] = ' ';
    if (sb->data) sb->data[sb->len] = '\0';
}

const char *sb_cstr(mlcc_strbuf *sb) {
    return sb->data ? sb->data : "";
}

char *sb_detach(mlcc_strbuf *sb) {
    char *s = sb->data ? sb->data : mlcc_xstrdup("");
    sb->data = NULL;
    sb->len = sb->cap = 0;
    return s;
}

void sb_clear(mlcc_strbuf *sb) {
    sb->len = 0;
    if (sb->data) sb->data[0] = '\0';
}

void sb_free(mlcc_strbuf *sb) {
    free(sb->data);
    sb->data = NULL;
    sb->len = sb->cap = 0;
}
