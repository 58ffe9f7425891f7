/* object.c - runtime objects: the refcounted header every object starts with, and the two
 * simplest kinds, shape tuples and strings (see mlcc_runtime.h). */
#include "runtime/object.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"
#include "support/error.h"

void mlcc_object_init(MLCCObject *obj, uint32_t type_index, void (*deleter)(MLCCObject *)) {
    obj->ref_count = 1;
    obj->type_index = type_index;
    obj->deleter = deleter;
}

void mlcc_object_retain(MLCCObject *obj) {
    if (obj) __atomic_fetch_add(&obj->ref_count, 1, __ATOMIC_RELAXED);
}

void mlcc_object_release(MLCCObject *obj) {
    if (!obj) return;
    /* acq_rel: the thread that frees must see every write made through other references. */
    if (__atomic_fetch_sub(&obj->ref_count, 1, __ATOMIC_ACQ_REL) == 1 && obj->deleter)
        obj->deleter(obj);
}

const char *mlcc_object_type_name(uint32_t type_index) {
    switch (type_index) {
    case MLCC_OBJECT_NDARRAY: return "NDArray";
    case MLCC_OBJECT_STORAGE: return "Storage";
    case MLCC_OBJECT_SHAPE: return "Shape";
    case MLCC_OBJECT_STRING: return "String";
    case MLCC_OBJECT_FUNCTION: return "Function";
    case MLCC_OBJECT_MODULE: return "Module";
    case MLCC_OBJECT_KV_CACHE: return "KVCache";
    default: return "Object";
    }
}

static void free_plain_object(MLCCObject *obj) {
    free(obj);
}

MLCCShape *mlcc_shape_new(int ndim, const int64_t *dims) {
    if (ndim < 0 || ndim > MLCC_MAX_NDIM) {
        mlcc_set_error("shape with %d dimensions (at most %d)", ndim, MLCC_MAX_NDIM);
        return NULL;
    }
    MLCCShape *s = mlcc_xmalloc(sizeof *s + (size_t)ndim * sizeof(int64_t));
    mlcc_object_init(&s->obj, MLCC_OBJECT_SHAPE, free_plain_object);
    s->ndim = ndim;
    if (ndim) memcpy(s->dims, dims, (size_t)ndim * sizeof(int64_t));
    return s;
}

MLCCString *mlcc_string_new(const char *data, size_t len) {
    MLCCString *s = mlcc_xmalloc(sizeof *s + len + 1);
    mlcc_object_init(&s->obj, MLCC_OBJECT_STRING, free_plain_object);
    s->len = len;
    if (len) memcpy(s->data, data, len);
    s->data[len] = '\0';
    return s;
}

void mlcc_value_release(MLCCValue value, int type_code) {
    if (type_code == MLCC_TYPE_OBJECT) mlcc_object_release(value.v_handle);
}
