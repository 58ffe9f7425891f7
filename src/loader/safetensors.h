/* safetensors.h - reading and writing .safetensors files (Hugging Face's weight format).
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 *     {"__metadata__": {"k": "v", ...},
 *      "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * and then the data: each tensor's bytes at [begin, end) relative to the end of the header,
 * row-major, little-endian. The reader maps the file and checks everything before handing out
 * a pointer: header length within the file, JSON, known dtypes, shapes, offsets inside the data,
 * no two tensors overlapping, end - begin == product(shape) * dtype size (with overflow-checked
 * arithmetic). Sharded checkpoints (model.safetensors.index.json with a weight_map) open as one
 * set. Errors name the file and the tensor. */
#ifndef MLCC_LOADER_SAFETENSORS_H
#define MLCC_LOADER_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "mlcc/mlcc_runtime.h"

typedef enum {
    ST_BOOL,
    ST_U8,
    ST_I8,
    ST_F8_E5M2,
    ST_F8_E4M3,
    ST_I16,
    ST_U16,
    ST_F16,
    ST_BF16,
    ST_I32,
    ST_U32,
    ST_F32,
    ST_I64,
    ST_U64,
    ST_F64,
    ST_DTYPE_COUNT
} mlcc_st_dtype;

/* "F32", "BF16", ... as the format spells them. */
const char *safetensors_dtype_name(mlcc_st_dtype t);
size_t safetensors_dtype_size(mlcc_st_dtype t);
int safetensors_dtype_parse(const char *name, mlcc_st_dtype *out);
/* The DLPack type (bool = uint1); -1 with an error for the float8 types (no DLPack 0.6 code). */
int safetensors_dtype_to_dl(mlcc_st_dtype t, DLDataType *out);
int safetensors_dtype_from_dl(DLDataType t, mlcc_st_dtype *out);

typedef struct mlcc_st_tensor {
    const char *name;
    mlcc_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    size_t nbytes;
    uint64_t file_offset; /* of the first byte, from the start of the file */
    const void *data;     /* in the mapping; may be unaligned for files from other writers */
    const char *file;     /* path of the file holding it */
} mlcc_st_tensor;

typedef struct mlcc_safetensors mlcc_safetensors;

/* PATH may be a .safetensors file, a model.safetensors.index.json, or a folder holding either
 * (the index wins). NULL with an error naming the file on failure. */
mlcc_safetensors *safetensors_open(const char *path);
/* Parses a buffer the caller keeps alive (tests, fuzzing); `name` stands for the file name. */
mlcc_safetensors *safetensors_open_memory(const void *data, size_t len, const char *name);
void safetensors_close(mlcc_safetensors *st);

/* Tensors ordered by file, then offset. */
size_t safetensors_count(const mlcc_safetensors *st);
const mlcc_st_tensor *safetensors_at(const mlcc_safetensors *st, size_t i);
const mlcc_st_tensor *safetensors_find(const mlcc_safetensors *st, const char *name);
size_t safetensors_num_files(const mlcc_safetensors *st);

/* __metadata__ (of the first file; for a sharded set, the index's "metadata" strings come
 * after it). */
size_t safetensors_metadata_count(const mlcc_safetensors *st);
void safetensors_metadata_at(const mlcc_safetensors *st, size_t i, const char **key,
                             const char **value);
const char *safetensors_metadata(const mlcc_safetensors *st, const char *key);

/* Converts a F32, F16, BF16 or F64 tensor to float32 (F64 rounds to nearest). */
int safetensors_read_f32(const mlcc_st_tensor *t, float *dst);

/* A new NDArray on dev holding the tensor as `dtype`: the same type is copied bytewise; F32,
 * F16, BF16 and F64 convert into F32, F16 or BF16 (rounding to nearest even). The error names
 * the tensor and file. */
MLCCNDArray *safetensors_load_ndarray(const mlcc_st_tensor *t, DLDataType dtype, DLDevice dev);

typedef struct mlcc_st_write_tensor {
    const char *name;
    mlcc_st_dtype dtype;
    int ndim;
    const int64_t *shape;
    const void *data; /* product(shape) * dtype size bytes */
} mlcc_st_write_tensor;

/* Writes a file atomically (a temporary file in the same folder, then rename). The data is laid
 * out as the reference writer does: largest element size first (stable), so every tensor is
 * aligned to its element size; the header is padded with spaces to a multiple of 8.
 * `metadata` is NULL or a NULL-terminated list of key, value, key, value, ... */
int safetensors_write(const char *path, const mlcc_st_write_tensor *tensors, size_t n,
                      const char *const *metadata);

#endif
