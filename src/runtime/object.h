/* object.h - runtime objects (refcount + type tag + deleter), shapes and strings. The public
 * declarations are in mlcc/mlcc_runtime.h; this header adds helpers for runtime code. */
#ifndef MLCC_RUNTIME_OBJECT_H
#define MLCC_RUNTIME_OBJECT_H

#include "mlcc/mlcc_runtime.h"

/* The object as type T when its tag is `index`, else NULL (obj may be NULL). */
#define MLCC_OBJECT_AS(obj, index, T)                                                              \
    ((obj) && ((MLCCObject *)(obj))->type_index == (index) ? (T *)(void *)(obj) : NULL)

#endif
