/* runner.h - a model runner for the engine (engine/engine.h) over an mlcc_model:
 *
 *     mlcc_model *m = mlcc_model_open(path, &(mlcc_model_options){.max_seq = 2048});
 *     mlcc_model_runner runner = mlcc_model_runner_new(m);
 *     mlcc_engine *e = mlcc_engine_new(&runner, tok, eos, neos);
 *     ...
 *     mlcc_model_runner_free(&runner);  mlcc_model_free(m);
 *
 * It keeps one sequence in the model's paged KV cache (mlcc_model_kv); the context window is
 * the model's max_seq, a forward call takes up to its prefill chunk. */
#ifndef MLCC_MODELS_RUNNER_H
#define MLCC_MODELS_RUNNER_H

#include "engine/engine.h"
#include "models/model.h"

/* The runner borrows m (free the runner first). */
mlcc_model_runner mlcc_model_runner_new(mlcc_model *m);
void mlcc_model_runner_free(mlcc_model_runner *runner);

#endif
