/* http.h - the few HTTP requests the hub needs, through libcurl: a GET into memory (API JSON),
 * a HEAD that does not follow redirects (a file's metadata), a GET that streams into a sink
 * from a byte offset (a download, resumed with Range). HF_TOKEN goes along as a bearer token
 * to the endpoint only: libcurl drops it when a redirect leaves for another host. */
#ifndef MLCC_HUB_HTTP_H
#define MLCC_HUB_HTTP_H

#include <stddef.h>
#include <stdint.h>

struct mlcc_http_response;
/* Receives body bytes of a 2xx response (resp has its status and headers); returns 0 to go on,
 * -1 to abort the transfer. */
typedef int (*mlcc_http_sink)(void *ctx, const struct mlcc_http_response *resp, const void *data,
                              size_t len);

typedef struct mlcc_http_request {
    const char *url;
    int head;            /* HEAD: headers only, redirects not followed */
    int64_t range_from;  /* > 0: ask for bytes from this offset on */
    mlcc_http_sink sink; /* NULL: the body is kept in memory */
    void *sink_ctx;
} mlcc_http_request;

/* The last response's status and the headers the hub reads (NULL or -1 when absent). */
typedef struct mlcc_http_response {
    long status;
    char *body; /* NUL-terminated; error bodies too (capped) */
    size_t body_len;
    char *location, *etag, *linked_etag, *repo_commit, *error_code, *error_message;
    int64_t linked_size, content_length;
    int64_t range_start; /* from Content-Range on a 206, else -1 */
    int sink_failed;     /* the transfer stopped because the sink said so */
    /* When no response came (perform returned -1): what went wrong, and whether it looks like
     * being offline (no DNS, no route, connection refused) rather than a cut transfer. */
    char transport_error[256];
    int offline;
    int partial; /* the connection broke during the body */
} mlcc_http_response;

/* Performs the request. 0 when a response arrived (any status; read resp->status), -1 on a
 * transport failure (resp->transport_error says what). */
int mlcc_http_perform(const mlcc_http_request *req, mlcc_http_response *resp);
void mlcc_http_response_free(mlcc_http_response *resp);
/* The access token (malloc'ed, NULL when none) and where it came from: HF_TOKEN,
 * HUGGING_FACE_HUB_TOKEN, else the file that `huggingface-cli login` writes ($HF_TOKEN_PATH,
 * else $HF_HOME/token, else ~/.cache/huggingface/token). *source names it for messages. */
char *mlcc_http_token(char **source);
/* The endpoint: HF_ENDPOINT without a trailing slash, default https://huggingface.co. */
char *mlcc_http_endpoint(void);
/* Percent-encodes each segment of a path, keeping the slashes. */
char *mlcc_http_escape_path(const char *path);

#endif
