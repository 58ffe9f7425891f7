/* gguf.h - the one GGUF reader of mlcc (GGUF v2 and v3, as llama.cpp writes them).
 *
 * mlcc_gguf_open maps the file read-only and checks everything against its size before
 * anything is returned: the header, every metadata key/value (all scalar types, strings,
 * arrays, arrays of arrays), every tensor info (name, shape, type, offset) and the alignment.
 * Strings point into the mapping (not NUL-terminated: use .len). Errors name the file and the
 * key or tensor. The handle is read-only after opening, so threads may share it. */
#ifndef MLCC_LOADER_GGUF_H
#define MLCC_LOADER_GGUF_H
#include <stddef.h>
#include <stdint.h>

typedef enum mlcc_gguf_type {
    MLCC_GGUF_UINT8 = 0,
    MLCC_GGUF_INT8 = 1,
    MLCC_GGUF_UINT16 = 2,
    MLCC_GGUF_INT16 = 3,
    MLCC_GGUF_UINT32 = 4,
    MLCC_GGUF_INT32 = 5,
    MLCC_GGUF_FLOAT32 = 6,
    MLCC_GGUF_BOOL = 7,
    MLCC_GGUF_STRING = 8,
    MLCC_GGUF_ARRAY = 9,
    MLCC_GGUF_UINT64 = 10,
    MLCC_GGUF_INT64 = 11,
    MLCC_GGUF_FLOAT64 = 12
} mlcc_gguf_type;

typedef struct mlcc_gguf_str {
    const char *data; /* into the mapping; not NUL-terminated */
    uint64_t len;
} mlcc_gguf_str;

typedef struct mlcc_gguf_kv {
    mlcc_gguf_str key;
    mlcc_gguf_type type;
    union {
        uint64_t u; /* unsigned integers and bool */
        int64_t i;  /* signed integers */
        double f;   /* FLOAT32 / FLOAT64 */
        mlcc_gguf_str s;
    } v;
    /* arrays */
    mlcc_gguf_type arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;    /* first element (fixed-size element types) */
    mlcc_gguf_str *arr_strings; /* string arrays: every element */
} mlcc_gguf_kv;

/* ggml tensor types (the ones with a known layout; others are rejected with a clear error) */
enum {
    MLCC_GGML_F32 = 0,
    MLCC_GGML_F16 = 1,
    MLCC_GGML_Q4_0 = 2,
    MLCC_GGML_Q4_1 = 3,
    MLCC_GGML_Q5_0 = 6,
    MLCC_GGML_Q5_1 = 7,
    MLCC_GGML_Q8_0 = 8,
    MLCC_GGML_Q8_1 = 9,
    MLCC_GGML_Q2_K = 10,
    MLCC_GGML_Q3_K = 11,
    MLCC_GGML_Q4_K = 12,
    MLCC_GGML_Q5_K = 13,
    MLCC_GGML_Q6_K = 14,
    MLCC_GGML_Q8_K = 15,
    MLCC_GGML_I8 = 24,
    MLCC_GGML_I16 = 25,
    MLCC_GGML_I32 = 26,
    MLCC_GGML_I64 = 27,
    MLCC_GGML_F64 = 28,
    MLCC_GGML_BF16 = 30
};

#define MLCC_GGUF_MAX_DIMS 4
typedef struct mlcc_gguf_tensor {
    mlcc_gguf_str name;
    uint32_t n_dims;
    uint64_t dims[MLCC_GGUF_MAX_DIMS]; /* ggml order: dims[0] is the contiguous one */
    uint32_t type;
    uint64_t offset; /* from the start of the data section */
    uint64_t n_elements, n_bytes;
} mlcc_gguf_tensor;

typedef struct mlcc_gguf {
    char *path;
    const uint8_t *base;
    size_t size;
    int mapped;
    uint32_t version;
    uint64_t n_kv, n_tensors;
    mlcc_gguf_kv *kv;
    mlcc_gguf_tensor *tensors;
    uint64_t alignment, data_offset;
} mlcc_gguf;

/* Opens and checks a GGUF file (mmap). NULL + mlcc_set_error on failure. */
mlcc_gguf *mlcc_gguf_open(const char *path);
/* Parses GGUF bytes held by the caller (kept alive by the caller until close). */
mlcc_gguf *mlcc_gguf_open_memory(const void *data, size_t size, const char *what);
void mlcc_gguf_close(mlcc_gguf *g);

/* Metadata. find returns NULL when the key is absent (no error set). */
const mlcc_gguf_kv *mlcc_gguf_find(const mlcc_gguf *g, const char *key);
/* Typed getters: -1 with an error naming file and key when absent or of another type.
 * get_int accepts every integer type (and range-checks into int64); get_float F32/F64. */
int mlcc_gguf_get_int(const mlcc_gguf *g, const char *key, int64_t *out);
int mlcc_gguf_get_float(const mlcc_gguf *g, const char *key, double *out);
int mlcc_gguf_get_bool(const mlcc_gguf *g, const char *key, int *out);
int mlcc_gguf_get_str(const mlcc_gguf *g, const char *key, mlcc_gguf_str *out);
/* An array of the given element type: its kv (or NULL + error). */
const mlcc_gguf_kv *mlcc_gguf_get_array(const mlcc_gguf *g, const char *key, mlcc_gguf_type elem);
/* Element i of a numeric array as int64 / double (any integer / float element type; a float
 * outside int64's range, or NaN, reads as 0 through arr_int; out-of-range i reads as 0). */
int64_t mlcc_gguf_arr_int(const mlcc_gguf_kv *kv, uint64_t i);
double mlcc_gguf_arr_float(const mlcc_gguf_kv *kv, uint64_t i);

/* Tensors. */
const mlcc_gguf_tensor *mlcc_gguf_find_tensor(const mlcc_gguf *g, const char *name);
const void *mlcc_gguf_tensor_data(const mlcc_gguf *g, const mlcc_gguf_tensor *t);

const char *mlcc_gguf_type_name(mlcc_gguf_type t);
const char *mlcc_ggml_type_name(uint32_t type);
/* Bytes per block and elements per block of a ggml type; 0 when unknown. */
int mlcc_ggml_type_layout(uint32_t type, uint64_t *block_bytes, uint64_t *block_elems);

#endif
