/* vec.h - typed growable arrays.
 *
 * A vector is a plain struct { T *data; size_t len, cap; } declared with MLCC_VEC(T), so it can
 * live inside other structs and be zero-initialised. The macros grow it geometrically with
 * mlcc_xrealloc. Example:
 *     MLCC_VEC(int) v = {0};
 *     vec_push(&v, 3);
 *     for (size_t i = 0; i < v.len; i++) use(v.data[i]);
 *     vec_free(&v);
 */
#ifndef MLCC_SUPPORT_VEC_H
#define MLCC_SUPPORT_VEC_H

#include <stddef.h>

#include "support/alloc.h"

#define MLCC_VEC(T)                                                                                \
    struct {                                                                                       \
        T *data;                                                                                   \
        size_t len, cap;                                                                           \
    }

/* Ensures room for `extra` more elements. */
#define vec_reserve(v, extra)                                                                      \
    do {                                                                                           \
        size_t vec_need_ = (v)->len + (extra);                                                     \
        if (vec_need_ > (v)->cap) {                                                                \
            size_t vec_cap_ = (v)->cap ? (v)->cap * 2 : 8;                                         \
            while (vec_cap_ < vec_need_) vec_cap_ *= 2;                                            \
            (v)->data = mlcc_xrealloc((v)->data, vec_cap_ * sizeof(*(v)->data));                   \
            (v)->cap = vec_cap_;                                                                   \
        }                                                                                          \
    } while (0)

#define vec_push(v, x)                                                                             \
    do {                                                                                           \
        vec_reserve(v, 1);                                                                         \
        (v)->data[(v)->len++] = (x);                                                               \
    } while (0)

#define vec_pop(v) ((v)->data[--(v)->len])
#define vec_last(v) ((v)->data[(v)->len - 1])
#define vec_clear(v) ((v)->len = 0)

#define vec_free(v)                                                                                \
    do {                                                                                           \
        free((v)->data);                                                                           \
        (v)->data = NULL;                                                                          \
        (v)->len = (v)->cap = 0;                                                                   \
    } while (0)

#endif
