/* mlcc_runtime.h - the runtime's public C API: the packed-function ABI that generated kernels,
 * runtime builtins and the VM share, on DLPack tensors (DESIGN.md §4); runtime objects
 * (NDArray, storage, shape, string, function, module), devices, model library loading and the
 * thread pool. A deployed model links libmlcc_runtime alone; nothing here needs the compiler.
 *
 * A packed function takes an array of tagged values and returns one tagged value:
 *     int fn(const MLCCValue *args, const int *type_codes, int num_args,
 *            MLCCValue *ret, int *ret_type_code, void *resource);
 * It returns 0 on success and nonzero on failure, after recording a message (see
 * mlcc_last_error in the runtime, or the library's error hook for generated code).
 *
 * Ownership rules (the same everywhere):
 * - Functions named *_new, *_empty, *_alloc*, *_view, *_load and mlcc_module_get_function
 *   return a new reference; the caller releases it with mlcc_object_release (or the typed
 *   macros below).
 * - Arguments are borrowed for the duration of a call. A callee that keeps an object retains it.
 * - A return value of type MLCC_TYPE_OBJECT is a new reference owned by the caller
 *   (mlcc_value_release drops it). A return of MLCC_TYPE_STR must point to storage that outlives
 *   the call (a literal); dynamic text is returned as a string object.
 * - Failures return NULL or nonzero and record a message readable with mlcc_last_error(). */
#ifndef MLCC_RUNTIME_H
#define MLCC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#include <dlpack/dlpack.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------------
 * The packed-function ABI (fixed: generated libraries are compiled against it). */

typedef union MLCCValue {
    int64_t v_int64;
    double v_float64;
    void *v_handle;
    const char *v_str;
    DLTensor *v_tensor;
} MLCCValue;

/* Type codes of MLCCValue. */
enum {
    MLCC_TYPE_INT = 0,
    MLCC_TYPE_FLOAT = 2,
    MLCC_TYPE_HANDLE = 3,
    MLCC_TYPE_NULL = 4,
    MLCC_TYPE_DLTENSOR = 7,
    MLCC_TYPE_OBJECT = 8, /* a runtime object (NDArray, shape, KV cache, function, ...) */
    MLCC_TYPE_STR = 11,
};

typedef int (*MLCCPackedCFunc)(const MLCCValue *args, const int *type_codes, int num_args,
                               MLCCValue *ret, int *ret_type_code, void *resource);

/* The message of the last failure on this thread ("" when none). */
const char *mlcc_last_error(void);

/* ---------------------------------------------------------------------------------------------
 * Runtime objects: a header with an atomic reference count, a type tag and a deleter. Objects
 * cross the packed ABI as MLCC_TYPE_OBJECT with v_handle pointing at the header. */

typedef struct MLCCObject {
    int32_t ref_count;   /* atomic; starts at 1 */
    uint32_t type_index; /* MLCC_OBJECT_* */
    void (*deleter)(struct MLCCObject *self);
} MLCCObject;

enum {
    MLCC_OBJECT_NDARRAY = 1,
    MLCC_OBJECT_STORAGE = 2,
    MLCC_OBJECT_SHAPE = 3,
    MLCC_OBJECT_STRING = 4,
    MLCC_OBJECT_FUNCTION = 5,
    MLCC_OBJECT_MODULE = 6,
    MLCC_OBJECT_KV_CACHE = 7,
    MLCC_OBJECT_TUPLE = 8,
    MLCC_OBJECT_USER = 64, /* first index for object kinds defined elsewhere */
};

/* Sets up a header (ref_count 1). */
void mlcc_object_init(MLCCObject *obj, uint32_t type_index, void (*deleter)(MLCCObject *));
/* NULL-safe. Release calls the deleter when the count reaches zero. */
void mlcc_object_retain(MLCCObject *obj);
void mlcc_object_release(MLCCObject *obj);
/* "NDArray", "Shape", ... ("Object" for unknown indices). */
const char *mlcc_object_type_name(uint32_t type_index);

/* A shape tuple (int64 dims). */
typedef struct MLCCShape {
    MLCCObject obj;
    int ndim;
    int64_t dims[];
} MLCCShape;
MLCCShape *mlcc_shape_new(int ndim, const int64_t *dims);

/* An immutable byte string (NUL-terminated after len bytes). */
typedef struct MLCCString {
    MLCCObject obj;
    size_t len;
    char data[];
} MLCCString;
MLCCString *mlcc_string_new(const char *data, size_t len);

/* Releases an MLCC_TYPE_OBJECT value (others need nothing). */
void mlcc_value_release(MLCCValue value, int type_code);

/* ---------------------------------------------------------------------------------------------
 * Data types and shapes. DLDataType throughout; bool is {kDLUInt, 1, 1} and takes one byte. */

#define MLCC_DTYPE(code, bits) ((DLDataType){(uint8_t)(code), (uint8_t)(bits), 1})
#define MLCC_DTYPE_F32 MLCC_DTYPE(kDLFloat, 32)
#define MLCC_DTYPE_F16 MLCC_DTYPE(kDLFloat, 16)
#define MLCC_DTYPE_BF16 MLCC_DTYPE(kDLBfloat, 16)
#define MLCC_DTYPE_F64 MLCC_DTYPE(kDLFloat, 64)
#define MLCC_DTYPE_I32 MLCC_DTYPE(kDLInt, 32)
#define MLCC_DTYPE_I64 MLCC_DTYPE(kDLInt, 64)
#define MLCC_DTYPE_U8 MLCC_DTYPE(kDLUInt, 8)
#define MLCC_DTYPE_BOOL MLCC_DTYPE(kDLUInt, 1)

int mlcc_dtype_eq(DLDataType a, DLDataType b);
/* Bytes of one element (all lanes); bool is 1. 0 for a sub-byte type that is not bool. */
size_t mlcc_dtype_bytes(DLDataType t);
/* "float32", "bfloat16", "int64", "uint8", "bool", "float32x4"; buf >= 32 bytes; returns buf. */
const char *mlcc_dtype_str(DLDataType t, char *buf);
/* Parses what mlcc_dtype_str prints; 0, or -1 with an error. */
int mlcc_dtype_parse(const char *s, DLDataType *out);

/* Exact conversions; float -> half types round to nearest, ties to even. NaNs stay NaNs (payload
 * kept where it fits, quiet bit set when it would otherwise vanish); overflow gives infinity. */
float mlcc_f16_to_f32(uint16_t h);
uint16_t mlcc_f32_to_f16(float f);
float mlcc_bf16_to_f32(uint16_t h);
uint16_t mlcc_f32_to_bf16(float f);
void mlcc_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void mlcc_bf16_to_f32_n(float *dst, const uint16_t *src, size_t n);
void mlcc_f32_to_f16_n(uint16_t *dst, const float *src, size_t n);
void mlcc_f32_to_bf16_n(uint16_t *dst, const float *src, size_t n);

/* Product of dims into *out; -1 with an error on a negative dim or int64 overflow. */
int mlcc_shape_numel(int ndim, const int64_t *shape, int64_t *out);
/* numel * element bytes into *out, overflow-checked. */
int mlcc_shape_nbytes(int ndim, const int64_t *shape, DLDataType dtype, size_t *out);
/* For a well-formed compact tensor (the runtime only makes those). */
int64_t mlcc_tensor_numel(const DLTensor *t);
size_t mlcc_tensor_nbytes(const DLTensor *t);
/* 1 when strides are NULL or describe a compact row-major layout. */
int mlcc_tensor_is_contiguous(const DLTensor *t);
/* "[2, 3] float32 cpu:0" into buf (>= 160 bytes); returns buf. */
const char *mlcc_tensor_describe(const DLTensor *t, char *buf, size_t size);

/* ---------------------------------------------------------------------------------------------
 * Devices: each device type has a table of functions; CPU is built in, others (CUDA) register
 * theirs when they load. A copy between two devices goes through the non-CPU one's table. */

typedef struct MLCCDeviceAPI {
    const char *name; /* "cpu", "cuda" */
    /* NULL with an error when the memory is not there. */
    void *(*alloc)(DLDevice dev, size_t nbytes, size_t alignment);
    void (*free)(DLDevice dev, void *ptr);
    /* Copies nbytes; one side may be the CPU. stream NULL = the default stream. */
    int (*copy)(const void *src, DLDevice src_dev, void *dst, DLDevice dst_dev, size_t nbytes,
                void *stream);
    /* Waits for the work queued on the stream. */
    int (*sync)(DLDevice dev, void *stream);
} MLCCDeviceAPI;

#define MLCC_ALLOC_ALIGNMENT 64
#define MLCC_CPU ((DLDevice){kDLCPU, 0})

/* Installs (or replaces) the table of a device type. */
int mlcc_device_register(DLDeviceType type, const MLCCDeviceAPI *api);
/* The table for dev, or NULL with an error ("device cuda:0 is not available ..."). */
const MLCCDeviceAPI *mlcc_device_api(DLDevice dev);
/* "cpu:0", "cuda:1"; buf >= 32 bytes. */
const char *mlcc_device_str(DLDevice dev, char *buf);

/* ---------------------------------------------------------------------------------------------
 * Storage and NDArray. An NDArray is a DLTensor (compact row-major: strides NULL, byte_offset
 * 0, data pointing at the first element) whose memory belongs to a refcounted storage; views
 * share the storage and keep it alive. Memory planning allocates storages once and places
 * tensors in them: mlcc_storage_alloc + mlcc_storage_alloc_tensor. */

typedef struct MLCCStorage {
    MLCCObject obj;
    void *data;
    size_t nbytes;
    DLDevice device;
    void (*free_fn)(void *ctx); /* external memory: called with free_ctx; NULL = device free */
    void *free_ctx;
} MLCCStorage;

typedef struct MLCCNDArray {
    MLCCObject obj;
    DLTensor dl;          /* dl.shape points at shape_data */
    MLCCStorage *storage; /* holds a reference */
    size_t storage_offset;
    int64_t shape_data[];
} MLCCNDArray;

#define MLCC_MAX_NDIM 64

/* nbytes on dev, MLCC_ALLOC_ALIGNMENT-aligned. */
MLCCStorage *mlcc_storage_alloc(size_t nbytes, DLDevice dev);
/* Memory the runtime does not own (an mmap'ed weight file): free_fn(ctx) runs when the storage
 * dies (free_fn may be NULL). */
MLCCStorage *mlcc_storage_wrap(void *data, size_t nbytes, DLDevice dev, void (*free_fn)(void *),
                               void *ctx);
/* A tensor at byte `offset` of the storage; fails unless it fits. */
MLCCNDArray *mlcc_storage_alloc_tensor(MLCCStorage *storage, size_t offset, int ndim,
                                       const int64_t *shape, DLDataType dtype);
/* A fresh tensor with its own storage (contents undefined). */
MLCCNDArray *mlcc_ndarray_empty(int ndim, const int64_t *shape, DLDataType dtype, DLDevice dev);
/* A view of arr's memory starting byte_offset bytes after arr's first element, with a new shape
 * and dtype; it must lie within arr's storage. */
MLCCNDArray *mlcc_ndarray_view(const MLCCNDArray *arr, size_t byte_offset, int ndim,
                               const int64_t *shape, DLDataType dtype);
/* nbytes must equal the tensor's size. */
int mlcc_ndarray_copy_from_bytes(MLCCNDArray *arr, const void *data, size_t nbytes);
int mlcc_ndarray_copy_to_bytes(const MLCCNDArray *arr, void *data, size_t nbytes);
/* Same dtype and element count; any devices. */
int mlcc_ndarray_copy(MLCCNDArray *dst, const MLCCNDArray *src);
size_t mlcc_ndarray_nbytes(const MLCCNDArray *arr);
int64_t mlcc_ndarray_numel(const MLCCNDArray *arr);

#define mlcc_ndarray_retain(a) mlcc_object_retain((a) ? &(a)->obj : NULL)
#define mlcc_ndarray_release(a) mlcc_object_release((a) ? &(a)->obj : NULL)
#define mlcc_storage_release(s) mlcc_object_release((s) ? &(s)->obj : NULL)

/* ---------------------------------------------------------------------------------------------
 * Packed functions: function objects and the global registry. */

typedef struct MLCCFunction {
    MLCCObject obj;
    MLCCPackedCFunc fn;
    void *resource;                        /* passed as the last argument */
    void (*resource_free)(void *resource); /* when the function object dies; may be NULL */
    const char *name;                      /* interned; may be "" */
} MLCCFunction;

MLCCFunction *mlcc_function_new(const char *name, MLCCPackedCFunc fn, void *resource,
                                void (*resource_free)(void *));
/* Adds a named function; fails if the name is taken unless allow_override. */
int mlcc_func_register(const char *name, MLCCPackedCFunc fn, void *resource, int allow_override);
int mlcc_func_register_object(const char *name, MLCCFunction *f, int allow_override);
/* Borrowed: registered functions live until the process ends. NULL with an error if absent. */
MLCCFunction *mlcc_func_get_global(const char *name);
/* A malloc'ed array of the registered names, sorted (the names are interned, not owned). */
const char **mlcc_func_list_global(size_t *count);

/* Calls f. ret_type_code is set to MLCC_TYPE_NULL before the call. On failure the message names
 * the function when it has a name ("vm.builtin.x: ..."). */
int mlcc_func_call(const MLCCFunction *f, const MLCCValue *args, const int *type_codes,
                   int num_args, MLCCValue *ret, int *ret_type_code);

/* Building argument lists with types. */
#define MLCC_MAX_ARGS 64
typedef struct MLCCArgs {
    int num;
    int overflow; /* more than MLCC_MAX_ARGS pushed: calls fail */
    int type_codes[MLCC_MAX_ARGS];
    MLCCValue values[MLCC_MAX_ARGS];
} MLCCArgs;
void mlcc_args_init(MLCCArgs *a);
void mlcc_args_int(MLCCArgs *a, int64_t v);
void mlcc_args_float(MLCCArgs *a, double v);
void mlcc_args_str(MLCCArgs *a, const char *s);
void mlcc_args_handle(MLCCArgs *a, void *p);
void mlcc_args_null(MLCCArgs *a);
void mlcc_args_tensor(MLCCArgs *a, DLTensor *t);
void mlcc_args_object(MLCCArgs *a, MLCCObject *obj); /* borrowed */
int mlcc_call(const MLCCFunction *f, const MLCCArgs *a, MLCCValue *ret, int *ret_type_code);
int mlcc_call_global(const char *name, const MLCCArgs *a, MLCCValue *ret, int *ret_type_code);

/* Reading arguments inside a packed function, with errors naming the index and both types. */
int mlcc_check_num_args(int num_args, int expected);
int mlcc_arg_int(const MLCCValue *args, const int *type_codes, int num_args, int i, int64_t *out);
/* Accepts ints too. */
int mlcc_arg_float(const MLCCValue *args, const int *type_codes, int num_args, int i, double *out);
/* MLCC_TYPE_STR or a string object. */
int mlcc_arg_str(const MLCCValue *args, const int *type_codes, int num_args, int i,
                 const char **out);
/* MLCC_TYPE_DLTENSOR or an NDArray object. */
int mlcc_arg_tensor(const MLCCValue *args, const int *type_codes, int num_args, int i,
                    DLTensor **out);
/* An object of the given type index (0 = any), borrowed. */
int mlcc_arg_object(const MLCCValue *args, const int *type_codes, int num_args, int i,
                    uint32_t type_index, MLCCObject **out);
/* "int", "float", "str", "NDArray", ... for messages. */
const char *mlcc_value_type_name(MLCCValue value, int type_code);

/* ---------------------------------------------------------------------------------------------
 * Model libraries (shared objects made by the compiler; contract in docs/model-library.md). */

typedef struct MLCCModule MLCCModule;

/* dlopen + contract checks + error hook installation. */
MLCCModule *mlcc_module_load(const char *path);
/* A new reference to a function object that keeps the module loaded. */
MLCCFunction *mlcc_module_get_function(MLCCModule *m, const char *name);
size_t mlcc_module_num_functions(const MLCCModule *m);
const char *mlcc_module_function_name(const MLCCModule *m, size_t i);
/* The library's metadata JSON text, or NULL when it has none. */
const char *mlcc_module_metadata(const MLCCModule *m);
const char *mlcc_module_path(const MLCCModule *m);
/* A data symbol of the library (e.g. mlcc_library_vm_program), or NULL when absent. */
const void *mlcc_module_get_symbol(const MLCCModule *m, const char *name);
MLCCObject *mlcc_module_object(MLCCModule *m);
#define mlcc_module_release(m) mlcc_object_release((m) ? mlcc_module_object(m) : NULL)

/* ---------------------------------------------------------------------------------------------
 * The thread pool: one set of worker threads for the process, OpenMP's team, shared by the
 * generated kernels and these loops. Its size comes from MLCC_NUM_THREADS (default: the CPUs
 * this process may run on), or mlcc_threadpool_set_size (`--threads`). */

/* Runs [begin, end) of the range; `task` is in [0, mlcc_threadpool_size()). */
typedef void (*MLCCParallelBody)(int64_t begin, int64_t end, int task, void *ctx);

/* Splits [0, n) into at most size() contiguous chunks of near-equal length (static schedule),
 * runs them on the pool with the caller taking chunk 0, and returns when all are done. Nested
 * calls (from inside a body) run serially on the calling thread. */
void mlcc_parallel_for(int64_t n, MLCCParallelBody body, void *ctx);
int mlcc_threadpool_size(void);
/* Sets the thread count of later parallel loops and kernels (n >= 1); not from inside a loop. */
int mlcc_threadpool_set_size(int n);

#ifdef __cplusplus
}
#endif

#endif
