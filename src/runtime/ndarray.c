/* ndarray.c - storages (refcounted device memory) and NDArrays (compact DLTensors placed in a
 * storage), plus the shape arithmetic both need. Every size that comes from a shape is
 * computed with overflow checks, because shapes come from files and from symbolic values. */
#include "runtime/ndarray.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/device.h"
#include "support/alloc.h"
#include "support/error.h"

int mlcc_shape_numel(int ndim, const int64_t *shape, int64_t *out) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return mlcc_set_error("dimension %d is negative (%lld)", i, (long long)shape[i]);
        if (__builtin_mul_overflow(n, shape[i], &n))
            return mlcc_set_error("shape has more than 2^63 elements");
    }
    *out = n;
    return 0;
}

int mlcc_shape_nbytes(int ndim, const int64_t *shape, DLDataType dtype, size_t *out) {
    int64_t numel;
    if (mlcc_shape_numel(ndim, shape, &numel) != 0) return -1;
    size_t elem = mlcc_dtype_bytes(dtype);
    if (elem == 0) {
        char buf[32];
        return mlcc_set_error("data type %s has no whole-byte element size",
                              mlcc_dtype_str(dtype, buf));
    }
    if ((uint64_t)numel > SIZE_MAX || __builtin_mul_overflow((size_t)numel, elem, out))
        return mlcc_set_error("tensor size in bytes overflows");
    return 0;
}

int64_t mlcc_tensor_numel(const DLTensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
    return n;
}

size_t mlcc_tensor_nbytes(const DLTensor *t) {
    return (size_t)mlcc_tensor_numel(t) * mlcc_dtype_bytes(t->dtype);
}

int mlcc_tensor_is_contiguous(const DLTensor *t) {
    if (!t->strides) return 1;
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expected) return 0;
        expected *= t->shape[i];
    }
    return 1;
}

const char *mlcc_tensor_describe(const DLTensor *t, char *buf, size_t size) {
    size_t used = 0;
    char tmp[32];
    used += (size_t)snprintf(buf, size, "[");
    for (int i = 0; i < t->ndim && used < size; i++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", i ? ", " : "",
                                 (long long)t->shape[i]);
    if (used < size)
        used += (size_t)snprintf(buf + used, size - used, "] %s", mlcc_dtype_str(t->dtype, tmp));
    if (used < size) snprintf(buf + used, size - used, " %s", mlcc_device_str(t->device, tmp));
    return buf;
}

/* Storage ------------------------------------------------------------------------------------ */

static void storage_delete(MLCCObject *obj) {
    MLCCStorage *s = (MLCCStorage *)obj;
    if (s->free_fn) {
        s->free_fn(s->free_ctx);
    } else if (s->data) {
        const MLCCDeviceAPI *api = mlcc_device_api(s->device);
        if (api) api->free(s->device, s->data);
    }
    free(s);
}

MLCCStorage *mlcc_storage_alloc(size_t nbytes, DLDevice dev) {
    const MLCCDeviceAPI *api = mlcc_device_api(dev);
    if (!api) return NULL;
    void *data = api->alloc(dev, nbytes, MLCC_ALLOC_ALIGNMENT);
    if (!data) return NULL;
    MLCCStorage *s = mlcc_xcalloc(1, sizeof *s);
    mlcc_object_init(&s->obj, MLCC_OBJECT_STORAGE, storage_delete);
    s->data = data;
    s->nbytes = nbytes;
    s->device = dev;
    return s;
}

static void no_free(void *ctx) {
    (void)ctx;
}

MLCCStorage *mlcc_storage_wrap(void *data, size_t nbytes, DLDevice dev, void (*free_fn)(void *),
                               void *ctx) {
    MLCCStorage *s = mlcc_xcalloc(1, sizeof *s);
    mlcc_object_init(&s->obj, MLCC_OBJECT_STORAGE, storage_delete);
    s->data = data;
    s->nbytes = nbytes;
    s->device = dev;
    s->free_fn = free_fn ? free_fn : no_free;
    s->free_ctx = ctx;
    return s;
}

/* NDArray ------------------------------------------------------------------------------------ */

static void ndarray_delete(MLCCObject *obj) {
    MLCCNDArray *a = (MLCCNDArray *)obj;
    mlcc_storage_release(a->storage);
    free(a);
}

MLCCNDArray *mlcc_storage_alloc_tensor(MLCCStorage *storage, size_t offset, int ndim,
                                       const int64_t *shape, DLDataType dtype) {
    if (ndim < 0 || ndim > MLCC_MAX_NDIM) {
        mlcc_set_error("tensor with %d dimensions (at most %d)", ndim, MLCC_MAX_NDIM);
        return NULL;
    }
    size_t nbytes;
    if (mlcc_shape_nbytes(ndim, shape, dtype, &nbytes) != 0) return NULL;
    if (offset > storage->nbytes || nbytes > storage->nbytes - offset) {
        mlcc_set_error("tensor of %zu bytes at offset %zu does not fit in a storage of %zu bytes",
                       nbytes, offset, storage->nbytes);
        return NULL;
    }
    MLCCNDArray *a = mlcc_xcalloc(1, sizeof *a + (size_t)ndim * sizeof(int64_t));
    mlcc_object_init(&a->obj, MLCC_OBJECT_NDARRAY, ndarray_delete);
    if (ndim) memcpy(a->shape_data, shape, (size_t)ndim * sizeof(int64_t));
    a->dl.data = (char *)storage->data + offset;
    a->dl.device = storage->device;
    a->dl.ndim = ndim;
    a->dl.dtype = dtype;
    a->dl.shape = a->shape_data;
    a->dl.strides = NULL;
    a->dl.byte_offset = 0;
    mlcc_object_retain(&storage->obj);
    a->storage = storage;
    a->storage_offset = offset;
    return a;
}

MLCCNDArray *mlcc_ndarray_empty(int ndim, const int64_t *shape, DLDataType dtype, DLDevice dev) {
    size_t nbytes;
    if (ndim < 0 || ndim > MLCC_MAX_NDIM) {
        mlcc_set_error("tensor with %d dimensions (at most %d)", ndim, MLCC_MAX_NDIM);
        return NULL;
    }
    if (mlcc_shape_nbytes(ndim, shape, dtype, &nbytes) != 0) return NULL;
    MLCCStorage *s = mlcc_storage_alloc(nbytes, dev);
    if (!s) return NULL;
    MLCCNDArray *a = mlcc_storage_alloc_tensor(s, 0, ndim, shape, dtype);
    mlcc_storage_release(s); /* the array holds the only reference now */
    return a;
}

MLCCNDArray *mlcc_ndarray_view(const MLCCNDArray *arr, size_t byte_offset, int ndim,
                               const int64_t *shape, DLDataType dtype) {
    size_t offset;
    if (__builtin_add_overflow(arr->storage_offset, byte_offset, &offset)) {
        mlcc_set_error("view offset %zu overflows", byte_offset);
        return NULL;
    }
    return mlcc_storage_alloc_tensor(arr->storage, offset, ndim, shape, dtype);
}

size_t mlcc_ndarray_nbytes(const MLCCNDArray *arr) {
    return mlcc_tensor_nbytes(&arr->dl);
}

int64_t mlcc_ndarray_numel(const MLCCNDArray *arr) {
    return mlcc_tensor_numel(&arr->dl);
}

int mlcc_ndarray_copy_from_bytes(MLCCNDArray *arr, const void *data, size_t nbytes) {
    size_t size = mlcc_ndarray_nbytes(arr);
    if (nbytes != size)
        return mlcc_set_error("copying %zu bytes into a tensor of %zu bytes", nbytes, size);
    const MLCCDeviceAPI *api = mlcc_copy_api(MLCC_CPU, arr->dl.device);
    if (!api) return -1;
    return api->copy(data, MLCC_CPU, arr->dl.data, arr->dl.device, nbytes, NULL);
}

int mlcc_ndarray_copy_to_bytes(const MLCCNDArray *arr, void *data, size_t nbytes) {
    size_t size = mlcc_ndarray_nbytes(arr);
    if (nbytes != size)
        return mlcc_set_error("copying a tensor of %zu bytes into %zu bytes", size, nbytes);
    const MLCCDeviceAPI *api = mlcc_copy_api(arr->dl.device, MLCC_CPU);
    if (!api) return -1;
    if (api->copy(arr->dl.data, arr->dl.device, data, MLCC_CPU, nbytes, NULL) != 0) return -1;
    return api->sync(arr->dl.device.device_type != kDLCPU ? arr->dl.device : MLCC_CPU, NULL);
}

int mlcc_ndarray_copy(MLCCNDArray *dst, const MLCCNDArray *src) {
    char a[32], b[32];
    if (!mlcc_dtype_eq(dst->dl.dtype, src->dl.dtype))
        return mlcc_set_error("copying %s into %s", mlcc_dtype_str(src->dl.dtype, a),
                              mlcc_dtype_str(dst->dl.dtype, b));
    if (mlcc_ndarray_numel(dst) != mlcc_ndarray_numel(src))
        return mlcc_set_error("copying %lld elements into %lld", (long long)mlcc_ndarray_numel(src),
                              (long long)mlcc_ndarray_numel(dst));
    const MLCCDeviceAPI *api = mlcc_copy_api(src->dl.device, dst->dl.device);
    if (!api) return -1;
    return api->copy(src->dl.data, src->dl.device, dst->dl.data, dst->dl.device,
                     mlcc_ndarray_nbytes(src), NULL);
}
