/* guide.h - what the engine needs from a grammar for one request: mask a row of logits before
 * sampling, follow the sampled token, and say when the grammar has finished the reply. */
#ifndef MLCC_GRAMMAR_GUIDE_H
#define MLCC_GRAMMAR_GUIDE_H

#include <stdint.h>

#include "grammar/grammar.h"

typedef struct mlcc_grammar_guide mlcc_grammar_guide;

/* The grammar is shared (its mask cache is thread-safe); the vocabulary must outlive the guide. */
mlcc_grammar_guide *mlcc_grammar_guide_new(const mlcc_grammar *g, mlcc_grammar_vocab *v);
void mlcc_grammar_guide_free(mlcc_grammar_guide *gd);
/* Sets the logits of tokens the grammar does not allow to -inf. -1 (with an error) when it
 * allows none. */
int mlcc_grammar_guide_mask(mlcc_grammar_guide *gd, float *logits, int nlogits);
/* Follows the sampled token: 1 when the grammar is complete and allows nothing more (the reply
 * is finished), 0 to go on, -1 (with an error) when the token breaks the grammar. */
int mlcc_grammar_guide_accept(mlcc_grammar_guide *gd, int32_t token);

/* Time the engine's thread spent in mask() and accept() over the process (waiting for a
 * worker, applying the mask, following the token), and the number of masks applied. */
void mlcc_grammar_guide_stats(double *seconds, uint64_t *masks);

#endif
