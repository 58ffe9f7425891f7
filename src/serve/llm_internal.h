/* llm_internal.h - what the HTTP server (serve/http.c) needs from the C API's implementation
 * beyond include/mlcc/mlcc.h. */
#ifndef MLCC_SERVE_LLM_INTERNAL_H
#define MLCC_SERVE_LLM_INTERNAL_H

#include <stdint.h>

#include "mlcc/mlcc.h"

/* Prometheus text of the engine's metrics (malloc'ed). */
char *mlcc_llm_metrics_prometheus(mlcc_llm *llm);
/* Counts an answer the HTTP layer gave on its own (401, 413, 404 for an unknown path...). */
void mlcc_llm_count_status(mlcc_llm *llm, int status);
/* When the model was loaded (Unix seconds): /v1/models' "created". */
int64_t mlcc_llm_created(const mlcc_llm *llm);

#endif
