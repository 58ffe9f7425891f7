/* vm_builtins.c - the runtime builtins that VM programs call (vm.builtin.*): storage and tensor
 * allocation, shape matching into the shape heap, shape construction, tensor checks, tuples. */
#include <stdlib.h>
#include <string.h>

#include "runtime/object.h"
#include "runtime/packed.h"
#include "runtime/vm.h"
#include "support/alloc.h"
#include "support/error.h"

/* ---- tuples ---- */

static void tuple_delete(MLCCObject *obj) {
    MLCCTuple *t = (MLCCTuple *)obj;
    for (int i = 0; i < t->size; i++) mlcc_value_release(t->values[i], t->codes[i]);
    free(t->values);
    free(t->codes);
    free(t);
}

MLCCTuple *mlcc_tuple_new(const MLCCValue *values, const int *codes, int n) {
    MLCCTuple *t = mlcc_xcalloc(1, sizeof *t);
    mlcc_object_init(&t->obj, MLCC_OBJECT_TUPLE, tuple_delete);
    t->size = n;
    t->values = mlcc_xcalloc((size_t)(n ? n : 1), sizeof(MLCCValue));
    t->codes = mlcc_xcalloc((size_t)(n ? n : 1), sizeof(int));
    for (int i = 0; i < n; i++) {
        int code = codes[i];
        MLCCValue v = values[i];
        if (code == MLCC_TYPE_STR) { /* borrowed text must outlive the tuple: own a copy */
            v.v_handle = mlcc_string_new(v.v_str, strlen(v.v_str));
            code = MLCC_TYPE_OBJECT;
        } else if (code == MLCC_TYPE_OBJECT) {
            mlcc_object_retain(v.v_handle);
        }
        t->values[i] = v;
        t->codes[i] = code;
    }
    return t;
}

static void return_object(MLCCValue *ret, int *ret_code, MLCCObject *obj) {
    ret->v_handle = obj;
    *ret_code = MLCC_TYPE_OBJECT;
}

static int make_tuple(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    return_object(ret, ret_code, &mlcc_tuple_new(args, codes, n)->obj);
    return 0;
}

static int tuple_getitem(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    MLCCObject *obj;
    int64_t i;
    if (mlcc_check_num_args(n, 2) || mlcc_arg_object(args, codes, n, 0, MLCC_OBJECT_TUPLE, &obj) ||
        mlcc_arg_int(args, codes, n, 1, &i))
        return -1;
    MLCCTuple *t = (MLCCTuple *)obj;
    if (i < 0 || i >= t->size) return mlcc_set_error("index %lld out of range for a tuple of %d", (long long)i, t->size);
    *ret = t->values[i];
    *ret_code = t->codes[i];
    if (*ret_code == MLCC_TYPE_OBJECT) mlcc_object_retain(ret->v_handle);
    return 0;
}

/* ---- storage and tensors ---- */

static int alloc_storage(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    int64_t size;
    if (mlcc_check_num_args(n, 2) || mlcc_arg_int(args, codes, n, 1, &size)) return -1;
    if (codes[0] != MLCC_TYPE_HANDLE || !args[0].v_handle) return mlcc_set_error("argument 0 must be the VM");
    if (size < 0) return mlcc_set_error("negative storage size %lld", (long long)size);
    MLCCStorage *s = mlcc_storage_alloc((size_t)size, mlcc_vm_device(args[0].v_handle));
    if (!s) return -1;
    return_object(ret, ret_code, &s->obj);
    return 0;
}

/* planned_storage(vm, slot, nbytes): the static plan's storage, made once per VM. */
static int planned_storage(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    int64_t slot, size;
    if (mlcc_check_num_args(n, 3) || mlcc_arg_int(args, codes, n, 1, &slot) || mlcc_arg_int(args, codes, n, 2, &size)) return -1;
    if (codes[0] != MLCC_TYPE_HANDLE || !args[0].v_handle) return mlcc_set_error("argument 0 must be the VM");
    if (size < 0 || slot < 0 || slot > INT32_MAX) return mlcc_set_error("bad planned storage (slot %lld, %lld bytes)", (long long)slot, (long long)size);
    MLCCStorage *s = mlcc_vm_planned_storage(args[0].v_handle, (int)slot, (size_t)size);
    if (!s) return -1;
    mlcc_object_retain(&s->obj);
    return_object(ret, ret_code, &s->obj);
    return 0;
}

static int shape_arg(const MLCCValue *args, const int *codes, int n, int i, MLCCShape **out) {
    MLCCObject *obj;
    if (mlcc_arg_object(args, codes, n, i, MLCC_OBJECT_SHAPE, &obj)) return -1;
    *out = (MLCCShape *)obj;
    return 0;
}

static int alloc_tensor(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    MLCCObject *storage;
    int64_t offset;
    MLCCShape *shape;
    const char *dts;
    DLDataType dt;
    if (mlcc_check_num_args(n, 4) || mlcc_arg_object(args, codes, n, 0, MLCC_OBJECT_STORAGE, &storage) ||
        mlcc_arg_int(args, codes, n, 1, &offset) || shape_arg(args, codes, n, 2, &shape) ||
        mlcc_arg_str(args, codes, n, 3, &dts) || mlcc_dtype_parse(dts, &dt))
        return -1;
    if (offset < 0) return mlcc_set_error("negative offset %lld", (long long)offset);
    MLCCNDArray *a = mlcc_storage_alloc_tensor((MLCCStorage *)storage, (size_t)offset, shape->ndim, shape->dims, dt);
    if (!a) return -1;
    return_object(ret, ret_code, &a->obj);
    return 0;
}

static int heap_arg(const MLCCValue *args, const int *codes, int n, int i, int64_t **heap, int64_t *size) {
    DLTensor *t;
    if (mlcc_arg_tensor(args, codes, n, i, &t)) return -1;
    if (t->ndim != 1 || !mlcc_dtype_eq(t->dtype, MLCC_DTYPE_I64)) return mlcc_set_error("argument %d must be the shape heap", i);
    *heap = t->data;
    *size = t->shape[0];
    return 0;
}

/* The dims of a tensor or shape argument. */
static int dims_of(const MLCCValue *args, const int *codes, int n, int i, int *ndim, const int64_t **dims) {
    if (codes[i] == MLCC_TYPE_OBJECT && args[i].v_handle &&
        ((MLCCObject *)args[i].v_handle)->type_index == MLCC_OBJECT_SHAPE) {
        MLCCShape *s = args[i].v_handle;
        *ndim = s->ndim;
        *dims = s->dims;
        return 0;
    }
    DLTensor *t;
    if (mlcc_arg_tensor(args, codes, n, i, &t)) return -1;
    *ndim = t->ndim;
    *dims = t->shape;
    return 0;
}

/* match_shape(value, heap, ndim, (mode, value) * ndim, err_ctx) */
static int match_shape(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res, (void)ret, (void)ret_code;
    int64_t *heap, heap_size, want_ndim;
    int ndim;
    const int64_t *dims;
    const char *ctx = "match_shape";
    if (n < 4) return mlcc_set_error("needs at least 4 arguments, got %d", n);
    if (mlcc_arg_str(args, codes, n, n - 1, &ctx)) return -1;
    if (dims_of(args, codes, n, 0, &ndim, &dims) || heap_arg(args, codes, n, 1, &heap, &heap_size) ||
        mlcc_arg_int(args, codes, n, 2, &want_ndim))
        return -1;
    if (ndim != want_ndim) return mlcc_set_error("%s: expected %lld dimensions, got %d", ctx, (long long)want_ndim, ndim);
    if (n != 4 + 2 * ndim) return mlcc_set_error("%s: expected %d arguments, got %d", ctx, 4 + 2 * ndim, n);
    for (int d = 0; d < ndim; d++) {
        int64_t mode, v;
        if (mlcc_arg_int(args, codes, n, 3 + 2 * d, &mode) || mlcc_arg_int(args, codes, n, 4 + 2 * d, &v)) return -1;
        if ((mode == VM_MATCH_STORE_TO_HEAP || mode == VM_MATCH_ASSERT_EQ_HEAP) && (v < 0 || v >= heap_size))
            return mlcc_set_error("%s: heap slot %lld out of range", ctx, (long long)v);
        switch (mode) {
        case VM_MATCH_ASSERT_EQ_IMM:
            if (dims[d] != v) return mlcc_set_error("%s: dimension %d is %lld, expected %lld", ctx, d, (long long)dims[d], (long long)v);
            break;
        case VM_MATCH_STORE_TO_HEAP: heap[v] = dims[d]; break;
        case VM_MATCH_NO_OP: break;
        case VM_MATCH_ASSERT_EQ_HEAP:
            if (dims[d] != heap[v]) return mlcc_set_error("%s: dimension %d is %lld, expected %lld", ctx, d, (long long)dims[d], (long long)heap[v]);
            break;
        default: return mlcc_set_error("%s: unknown match mode %lld", ctx, (long long)mode);
        }
    }
    return 0;
}

/* make_shape(heap, ndim, (mode, value) * ndim) */
static int make_shape(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    int64_t *heap, heap_size, ndim;
    if (n < 2 || heap_arg(args, codes, n, 0, &heap, &heap_size) || mlcc_arg_int(args, codes, n, 1, &ndim)) return n < 2 ? mlcc_set_error("needs at least 2 arguments") : -1;
    if (ndim < 0 || ndim > MLCC_MAX_NDIM || n != 2 + 2 * ndim) return mlcc_set_error("bad ndim %lld for %d arguments", (long long)ndim, n);
    int64_t dims[MLCC_MAX_NDIM];
    for (int d = 0; d < ndim; d++) {
        int64_t mode, v;
        if (mlcc_arg_int(args, codes, n, 2 + 2 * d, &mode) || mlcc_arg_int(args, codes, n, 3 + 2 * d, &v)) return -1;
        if (mode == VM_MAKE_USE_IMM) dims[d] = v;
        else if (mode == VM_MAKE_LOAD_HEAP && v >= 0 && v < heap_size) dims[d] = heap[v];
        else return mlcc_set_error("bad make_shape entry %d (mode %lld, value %lld)", d, (long long)mode, (long long)v);
    }
    return_object(ret, ret_code, &mlcc_shape_new((int)ndim, dims)->obj);
    return 0;
}

/* check_tensor_info(tensor, ndim, dtype, err_ctx): ndim -1 or dtype "" skip that part. */
static int check_tensor_info(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res, (void)ret, (void)ret_code;
    DLTensor *t;
    int64_t ndim;
    const char *dts, *ctx;
    if (mlcc_check_num_args(n, 4) || mlcc_arg_str(args, codes, n, 3, &ctx)) return -1;
    if (mlcc_arg_tensor(args, codes, n, 0, &t)) return mlcc_prefix_error("%s", ctx);
    if (mlcc_arg_int(args, codes, n, 1, &ndim) || mlcc_arg_str(args, codes, n, 2, &dts)) return -1;
    if (ndim >= 0 && t->ndim != ndim) return mlcc_set_error("%s: expected a tensor of %lld dimensions, got %d", ctx, (long long)ndim, t->ndim);
    if (*dts) {
        DLDataType dt;
        char got[32];
        if (mlcc_dtype_parse(dts, &dt)) return -1;
        if (!mlcc_dtype_eq(dt, t->dtype)) return mlcc_set_error("%s: expected %s, got %s", ctx, dts, mlcc_dtype_str(t->dtype, got));
    }
    return 0;
}

static int shape_of(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    DLTensor *t;
    if (mlcc_check_num_args(n, 1) || mlcc_arg_tensor(args, codes, n, 0, &t)) return -1;
    return_object(ret, ret_code, &mlcc_shape_new(t->ndim, t->shape)->obj);
    return 0;
}

/* reshape(ndarray, shape): a view with the same element count. */
static int reshape(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    MLCCObject *obj;
    MLCCShape *shape;
    if (mlcc_check_num_args(n, 2) || mlcc_arg_object(args, codes, n, 0, MLCC_OBJECT_NDARRAY, &obj) ||
        shape_arg(args, codes, n, 1, &shape))
        return -1;
    MLCCNDArray *a = (MLCCNDArray *)obj;
    int64_t numel;
    if (mlcc_shape_numel(shape->ndim, shape->dims, &numel)) return -1;
    if (numel != mlcc_ndarray_numel(a)) return mlcc_set_error("cannot reshape %lld elements to %lld", (long long)mlcc_ndarray_numel(a), (long long)numel);
    MLCCNDArray *v = mlcc_ndarray_view(a, 0, shape->ndim, shape->dims, a->dl.dtype);
    if (!v) return -1;
    return_object(ret, ret_code, &v->obj);
    return 0;
}

/* identity(x): x itself (a new reference): moves a value into another register. */
static int identity(const MLCCValue *args, const int *codes, int n, MLCCValue *ret, int *ret_code, void *res) {
    (void)res;
    if (mlcc_check_num_args(n, 1)) return -1;
    *ret = args[0];
    *ret_code = codes[0];
    if (codes[0] == MLCC_TYPE_OBJECT) mlcc_object_retain(args[0].v_handle);
    else if (codes[0] == MLCC_TYPE_STR) { /* a borrowed string must outlive the call */
        ret->v_handle = mlcc_string_new(args[0].v_str, strlen(args[0].v_str));
        *ret_code = MLCC_TYPE_OBJECT;
    }
    return 0;
}

MLCC_REGISTER_GLOBAL("vm.builtin.identity", identity)
MLCC_REGISTER_GLOBAL("vm.builtin.make_tuple", make_tuple)
MLCC_REGISTER_GLOBAL("vm.builtin.tuple_getitem", tuple_getitem)
MLCC_REGISTER_GLOBAL("vm.builtin.alloc_storage", alloc_storage)
MLCC_REGISTER_GLOBAL("vm.builtin.alloc_tensor", alloc_tensor)
MLCC_REGISTER_GLOBAL("vm.builtin.planned_storage", planned_storage)
MLCC_REGISTER_GLOBAL("vm.builtin.match_shape", match_shape)
MLCC_REGISTER_GLOBAL("vm.builtin.make_shape", make_shape)
MLCC_REGISTER_GLOBAL("vm.builtin.check_tensor_info", check_tensor_info)
MLCC_REGISTER_GLOBAL("vm.builtin.shape_of", shape_of)
MLCC_REGISTER_GLOBAL("vm.builtin.reshape", reshape)
