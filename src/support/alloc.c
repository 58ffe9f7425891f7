/* alloc.c - allocation that never returns NULL (see alloc.h). */
#include "support/alloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void out_of_memory(size_t size) {
    fprintf(stderr, "mlcc: out of memory allocating %zu bytes\n", size);
    abort();
}

void *mlcc_xmalloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

void *mlcc_xcalloc(size_t count, size_t size) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) out_of_memory(count * size);
    return p;
}

void *mlcc_xrealloc(void *ptr, size_t size) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) out_of_memory(size);
    return p;
}

char *mlcc_xstrdup(const char *s) {
    return mlcc_xstrndup(s, strlen(s));
}

char *mlcc_xstrndup(const char *s, size_t n) {
    char *p = mlcc_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void mlcc_memcpy(void *dst, const void *src, size_t n) {
    if (n) memcpy(dst, src, n);
}
