/* http.h - the OpenAI-compatible HTTP server (DESIGN.md §5) over the C API (mlcc.h), on
 * libevent's evhttp: POST /v1/chat/completions and /v1/completions (JSON or SSE streams),
 * GET /v1/models[/ID], /health and /metrics (Prometheus text).
 *
 * One thread does all socket I/O for every connection. The engine's threads never touch a
 * socket: their response JSON goes through a locked queue and a wake-up pipe to the I/O thread.
 * A client that disconnects has its request aborted, whether it waits or runs. */
#ifndef MLCC_SERVE_HTTP_H
#define MLCC_SERVE_HTTP_H

#include <stddef.h>

#include "mlcc/mlcc.h"

typedef struct serve_http_options {
    const char *host;      /* default 127.0.0.1 */
    int port;              /* 0: any free port (printed) */
    const char *api_key;   /* NULL: no authentication; else "Authorization: Bearer KEY" on /v1 */
    int cors;              /* answer CORS preflights, allow any origin */
    size_t max_body;       /* request body limit in bytes (413 above it) */
    size_t max_headers;    /* request headers limit in bytes */
    int timeout_s;         /* idle connection timeout */
    int grace_s;           /* on SIGINT/SIGTERM: seconds open requests may finish before being aborted */
} serve_http_options;

void serve_http_defaults(serve_http_options *o);

/* Serves until SIGINT or SIGTERM (a second signal stops at once), then closes every
 * connection; the caller destroys llm afterwards. Prints "[mlcc] serving on http://HOST:PORT"
 * on stderr once listening. -1 with an error when the address cannot be bound. */
int serve_http_run(mlcc_llm *llm, const serve_http_options *opt);

#endif
