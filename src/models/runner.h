/* runner.h - a model runner for the engine (engine/engine.h) over an mlcc_model:
 *
 *     mlcc_model *m = mlcc_model_open(path, &(mlcc_model_options){.max_seq = 2048, .max_batch = 8});
 *     mlcc_model_runner runner;
 *     if (mlcc_model_runner_init(&runner, m, 0) != 0) ...error...
 *     mlcc_engine *e = mlcc_engine_new(&runner, tok, eos, neos);
 *     ...
 *     mlcc_engine_free(e);  mlcc_model_runner_free(&runner);  mlcc_model_free(m);
 *
 * The runner owns the model's paged KV cache; the engine's sequences live in it. */
#ifndef MLCC_MODELS_RUNNER_H
#define MLCC_MODELS_RUNNER_H

#include "engine/engine.h"
#include "models/model.h"

/* kv_tokens: KV cache capacity in tokens (0: the mode's plan when m was opened with one, else
 * context window x max batch). The runner borrows
 * m (free the runner first). 0, or -1 + error when the cache cannot be made. */
int mlcc_model_runner_init(mlcc_model_runner *runner, mlcc_model *m, int64_t kv_tokens);
void mlcc_model_runner_free(mlcc_model_runner *runner);

#endif
