/* decode_graph.h - decode steps replayed as CUDA graphs (see decode_graph.c). */
#ifndef MLCC_MODELS_DECODE_GRAPH_H
#define MLCC_MODELS_DECODE_GRAPH_H

#include <stdint.h>

#include "mlcc/mlcc_runtime.h"
#include "runtime/kv_cache.h"

typedef struct decode_graphs decode_graphs; /* (mlcc_model.graphs) */

/* The step's forward from the token ids (int32 [n] on the device) to the logits object. */
typedef int (*decode_graph_body)(void *ctx, MLCCNDArray *ids, MLCCObject **out);

/* Runs an open decode step of n tokens through a captured graph: 1 when it did (*out: the
 * logits, a new reference, valid until the next step), 0 when graphs do not apply (not CUDA,
 * MLCC_CUDA_GRAPHS=0, or turned off after a capture failed: the caller runs body itself),
 * -1 + error. *gs is created on first use (max_batch: the most tokens of a decode step). */
int decode_graph_step(decode_graphs **gs, DLDevice dev, MLCCKVCache *kv, const int32_t *tokens, int64_t n,
                      int64_t max_batch, decode_graph_body body, void *ctx, MLCCObject **out);
void decode_graphs_free(decode_graphs *gs);

#endif
