/* stop.h - stop strings over streamed text.
 *
 * Generated text arrives in pieces (one token's worth at a time, split anywhere). The matcher
 * passes text through as soon as it cannot be the start of a stop string, holds back a tail
 * that still could be, and on a complete match reports the stop and drops the stop string and
 * everything after it, as OpenAI's API does. A partial stop string is never emitted. */
#ifndef MLCC_ENGINE_STOP_H
#define MLCC_ENGINE_STOP_H

#include <stddef.h>

#include "support/strbuf.h"

typedef struct mlcc_stop_matcher {
    char **stops;
    int nstops;
    mlcc_strbuf pending; /* held-back text */
    int stopped;
    int matched; /* index of the stop string that matched, or -1 */
} mlcc_stop_matcher;

/* Copies the stop strings (empty ones are ignored). */
void mlcc_stop_init(mlcc_stop_matcher *m, const char *const *stops, int nstops);
void mlcc_stop_free(mlcc_stop_matcher *m);
/* Feeds text; appends what is safe to emit to out. Returns 1 once a stop string matched (the
 * text before it has been emitted), else 0. After a stop, further text is ignored. */
int mlcc_stop_feed(mlcc_stop_matcher *m, const char *text, size_t len, mlcc_strbuf *out);
/* End of generation without a stop: releases the held-back text into out. */
void mlcc_stop_flush(mlcc_stop_matcher *m, mlcc_strbuf *out);

#endif
