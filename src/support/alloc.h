/* alloc.h - allocation that never returns NULL.
 *
 * Out of memory is not a condition mlcc can recover from in the middle of building IR or
 * parsing a file, so (like Redis' zmalloc) these abort with a message instead of spreading
 * NULL checks through every caller. Code that allocates sizes taken from outside data
 * (a tensor shape in a file header) must bound them first and report a clear error. */
#ifndef MLCC_SUPPORT_ALLOC_H
#define MLCC_SUPPORT_ALLOC_H

#include <stddef.h>

void *mlcc_xmalloc(size_t size);
void *mlcc_xcalloc(size_t count, size_t size);
void *mlcc_xrealloc(void *ptr, size_t size);
char *mlcc_xstrdup(const char *s);
char *mlcc_xstrndup(const char *s, size_t n);
/* memcpy that accepts (NULL, 0): empty arrays are often NULL, and memcpy(dst, NULL, 0) is
 * undefined behaviour in C. */
void mlcc_memcpy(void *dst, const void *src, size_t n);

#endif
