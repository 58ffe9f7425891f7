/* weight_store.h - mlcc's converted weight format (docs/quantization.md), what `mlcc convert`
 * writes and mlcc_model_open reads back:
 *
 *   DIR/mlcc-config.json     {"format": "mlcc-weights", "version": 1, "quantization": "q4f16_1",
 *                             "model_type": ..., "source": ..., "index": "params.json"}
 *   DIR/params.json          {"quantization": ..., "tensors": [{"name", "dtype", "shape",
 *                             "file", "offset", "nbytes", "sha256"}, ...]}
 *   DIR/params_shard_N.bin   the tensors' bytes, row-major little-endian, each at a 64-byte
 *                            aligned offset, shards up to a size limit
 *   DIR/config.json, tokenizer and template files: copied from the source folder, or for a
 *                            GGUF file made from its metadata (models/gguf_side_files.h)
 *
 * The folder is written under a temporary name and renamed into place, so a reader never sees
 * half of one. Reading checks every tensor's size against its shard (a truncated shard is an
 * error naming the file) and its sha256. A parameter combining separate projections
 * (fuse_proj.h) that a folder converted without combining lacks is assembled from its parts;
 * separate ones (MLCC_FUSE_PROJ=0) are cut from a combined folder's rows. */
#ifndef MLCC_MODELS_WEIGHT_STORE_H
#define MLCC_MODELS_WEIGHT_STORE_H

#include <stddef.h>
#include <stdint.h>

struct mlcc_model;

/* Does dir hold a converted model (DIR/mlcc-config.json)? */
int weight_store_is_converted(const char *dir);
/* The scheme a converted folder was made with, into out. 0 or -1 + error naming the file. */
int weight_store_scheme(const char *dir, char *out, size_t cap);

typedef struct weight_store_options {
    int64_t shard_bytes; /* most bytes per shard (0: 512 MiB); a larger tensor gets its own */
    int force;           /* replace an existing out_dir */
    int quiet;           /* no progress lines */
} weight_store_options;

/* Writes m's weights (loaded by mlcc_model_load_uncompiled) and the source folder's config,
 * tokenizer and template files (a GGUF file's: made from its metadata) to out_dir,
 * atomically. Under ggml_mixed mlcc-config.json also records each matrix's scheme
 * ("matrix_schemes"). 0 or -1 + error. */
int weight_store_write(const struct mlcc_model *m, const char *source, const char *out_dir, const weight_store_options *opt);
/* Under ggml_mixed: the scheme of every matrix of converted folder dir (its mlcc-config.json's
 * "matrix_schemes"), NULL + error when absent or naming an unknown scheme; release with
 * json_decref. weight_store_matrix_scheme looks one matrix up (NULL: float32), as
 * model_param_list.matrix_scheme. */
void *weight_store_matrix_schemes(const char *dir);
const struct mlcc_quant_scheme *weight_store_matrix_scheme(void *schemes, const char *name);
/* Loads m->params from a converted folder into m->weights (checked; see above). */
int weight_store_load(struct mlcc_model *m, const char *dir);

#endif
