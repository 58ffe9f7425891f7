/* engine_collect.h - what the engine tests share to follow requests they submit: an event
 * callback that gathers a request's streamed text, token count and end, and a wait for a set
 * of requests to end. */
#ifndef MLCC_TEST_ENGINE_COLLECT_H
#define MLCC_TEST_ENGINE_COLLECT_H

#include "engine/engine.h"
#include "support/strbuf.h"

typedef struct test_request_out {
    mlcc_strbuf text;       /* the streamed text, in order */
    int tokens;             /* events that carried a token */
    int done;               /* the request has ended */
    char finish[16];        /* its finish reason */
    mlcc_gen_result result; /* its final counters */
} test_request_out;

/* The callback to pass to mlcc_engine_submit with a zeroed test_request_out as its context. */
void test_collect_event(void *ctx, const mlcc_engine_event *ev);
/* Waits until every one of outs[0..n) has ended. */
void test_wait_requests(test_request_out *outs, int n);
/* Waits until the request has streamed a token or ended. */
void test_wait_first_token(test_request_out *out);

#endif
