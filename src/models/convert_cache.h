/* convert_cache.h - the cache of weights converted on the fly.
 *
 * `mlcc chat CHECKPOINT --quantization q4f16_1` quantizes an unconverted checkpoint's weights
 * while loading them. The first open writes the result as a converted folder (weight_store.h)
 * under MLCC_HOME/cache/converted/<key>; later opens of the same checkpoint with the same
 * scheme read it from there, as MLC LLM's JIT does. The key is the SHA-256 of the checkpoint's
 * real path, every file's name, size and modification time in it (so an edited or re-downloaded
 * checkpoint misses), the scheme and a format version. MLCC_JIT_POLICY governs it as it does the
 * kernel cache: ON (default), OFF (no cache), REDO (convert again, overwrite), READONLY. */
#ifndef MLCC_MODELS_CONVERT_CACHE_H
#define MLCC_MODELS_CONVERT_CACHE_H

#include "quant/scheme.h"

struct mlcc_model;

/* The cache folder for (source, scheme) into a malloc'ed string, or NULL + error when the
 * source cannot be read. The folder may not exist yet. */
char *convert_cache_dir(const char *source, const mlcc_quant_scheme *scheme);

/* Loads m's weights from an unconverted checkpoint as model_load_weights does, through the
 * cache when m->quant converts them (a quantized scheme that is not the GGUF's own blocks). A
 * cache that cannot be read or written is a warning, never an error: the weights are then
 * converted in memory as without a cache. 0 or -1 + error (from the checkpoint). */
int convert_cache_load_weights(struct mlcc_model *m, const char *path, int is_gguf);

#endif
