/* gguf_write.h - writing GGUF v3 files (the counterpart of gguf.h), in three phases so that a
 * model larger than memory can be written tensor by tensor:
 *
 *     mlcc_gguf_writer *w = mlcc_gguf_writer_new(32);          // alignment
 *     mlcc_gguf_writer_kv_str(w, "general.architecture", "llama");
 *     mlcc_gguf_writer_kv_u32(w, "llama.block_count", 22);  ...
 *     int t = mlcc_gguf_writer_add_tensor(w, "token_embd.weight", MLCC_GGML_F16, 2, (uint64_t[]){2048, 32000});
 *     mlcc_gguf_writer_begin(w, "out.gguf");                   // header, metadata, tensor infos
 *     mlcc_gguf_writer_tensor_data(w, t, bytes, nbytes);       // each tensor, in the order added
 *     mlcc_gguf_writer_finish(w);                               // padding, fsync, rename
 *     mlcc_gguf_writer_free(w);
 *
 * Dims are in ggml order (dims[0] the contiguous one). Tensor data starts at a multiple of the
 * alignment, each tensor padded to it, as llama.cpp's gguf writer lays it out. The file appears
 * under its name only when finish succeeds (a temporary file beside it until then). */
#ifndef MLCC_LOADER_GGUF_WRITE_H
#define MLCC_LOADER_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mlcc_gguf_writer mlcc_gguf_writer;

mlcc_gguf_writer *mlcc_gguf_writer_new(uint32_t alignment);
void mlcc_gguf_writer_free(mlcc_gguf_writer *w);

/* Metadata, in the order given (general.alignment is added by begin when not 32). */
void mlcc_gguf_writer_kv_str(mlcc_gguf_writer *w, const char *key, const char *value);
void mlcc_gguf_writer_kv_u32(mlcc_gguf_writer *w, const char *key, uint32_t value);
void mlcc_gguf_writer_kv_i32(mlcc_gguf_writer *w, const char *key, int32_t value);
void mlcc_gguf_writer_kv_f32(mlcc_gguf_writer *w, const char *key, float value);
void mlcc_gguf_writer_kv_bool(mlcc_gguf_writer *w, const char *key, int value);
void mlcc_gguf_writer_kv_str_array(mlcc_gguf_writer *w, const char *key, const char *const *values, uint64_t n);
void mlcc_gguf_writer_kv_i32_array(mlcc_gguf_writer *w, const char *key, const int32_t *values, uint64_t n);

/* Declares a tensor; returns its index. -1 + error for a bad shape or a type whose blocks the
 * shape does not fill. */
int mlcc_gguf_writer_add_tensor(mlcc_gguf_writer *w, const char *name, uint32_t type, int n_dims, const uint64_t *dims);
/* Bytes tensor i takes. */
uint64_t mlcc_gguf_writer_tensor_size(const mlcc_gguf_writer *w, int i);

int mlcc_gguf_writer_begin(mlcc_gguf_writer *w, const char *path);
/* Tensor i's bytes (exactly its size); tensors must come in the order they were added. */
int mlcc_gguf_writer_tensor_data(mlcc_gguf_writer *w, int i, const void *data, uint64_t nbytes);
int mlcc_gguf_writer_finish(mlcc_gguf_writer *w);

#endif
