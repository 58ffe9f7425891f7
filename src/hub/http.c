/* http.c - libcurl requests for the hub (see http.h). */
#include "hub/http.h"

#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"

#define MAX_MEMORY_BODY ((size_t)64 << 20) /* API answers; larger means something is wrong */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void init_curl(void) {
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct transfer {
    CURL *curl;
    const mlcc_http_request *req;
    mlcc_http_response *resp;
    mlcc_strbuf body;
} transfer;

char *mlcc_http_endpoint(void) {
    const char *env = getenv("HF_ENDPOINT");
    if (!env || !*env) env = "https://huggingface.co";
    size_t n = strlen(env);
    while (n > 0 && env[n - 1] == '/')
        n--;
    return mlcc_xstrndup(env, n);
}

char *mlcc_http_escape_path(const char *path) {
    mlcc_strbuf sb = STRBUF_INIT;
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        if (isalnum(*p) || strchr("/-_.~", *p)) {
            sb_append_char(&sb, (char)*p);
        } else {
            sb_append_char(&sb, '%');
            sb_append_char(&sb, hex[*p >> 4]);
            sb_append_char(&sb, hex[*p & 15]);
        }
    }
    return sb_detach(&sb);
}

static char *token_from_file(const char *path) {
    char *text = mlcc_read_file(path, NULL);
    if (!text) {
        mlcc_clear_error();
        return NULL;
    }
    size_t n = strcspn(text, "\r\n");
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\t'))
        n--;
    text[n] = '\0';
    if (n == 0) {
        free(text);
        return NULL;
    }
    return text;
}

char *mlcc_http_token(char **source) {
    static const char *vars[] = {"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"};
    for (int i = 0; i < 2; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v) {
            if (source) *source = mlcc_xstrdup(vars[i]);
            return mlcc_xstrdup(v);
        }
    }
    mlcc_strbuf path = STRBUF_INIT;
    const char *v = getenv("HF_TOKEN_PATH"), *hf_home = getenv("HF_HOME"), *home = getenv("HOME");
    if (v && *v)
        sb_append(&path, v);
    else if (hf_home && *hf_home)
        sb_printf(&path, "%s/token", hf_home);
    else if (home && *home)
        sb_printf(&path, "%s/.cache/huggingface/token", home);
    char *token = path.len ? token_from_file(path.data) : NULL;
    if (token && source) *source = sb_detach(&path);
    sb_free(&path);
    return token;
}

static long env_long(const char *name, long def) {
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long x = strtol(v, &end, 10);
    return *end == '\0' && x >= 0 ? x : def;
}

static void clear_headers(mlcc_http_response *r) {
    free(r->location);
    free(r->etag);
    free(r->linked_etag);
    free(r->repo_commit);
    free(r->error_code);
    free(r->error_message);
    r->location = r->etag = r->linked_etag = r->repo_commit = r->error_code = r->error_message =
        NULL;
    r->linked_size = r->content_length = r->range_start = -1;
}

static void set_header(char **slot, const char *v, size_t n) {
    free(*slot);
    *slot = mlcc_xstrndup(v, n);
}

/* Each header line of each response (redirects included); a status line starts a new one. */
static size_t on_header(char *data, size_t size, size_t nitems, void *ctx) {
    transfer *t = ctx;
    size_t n = size * nitems, len = n;
    while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r'))
        len--;
    if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        clear_headers(t->resp);
        const char *sp = memchr(data, ' ', len);
        t->resp->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        return n;
    }
    const char *colon = memchr(data, ':', len);
    if (!colon) return n;
    size_t klen = (size_t)(colon - data);
    const char *v = colon + 1;
    while (v < data + len && (*v == ' ' || *v == '\t'))
        v++;
    size_t vlen = (size_t)(data + len - v);
    char vbuf[64];
    size_t cl = vlen < sizeof vbuf - 1 ? vlen : sizeof vbuf - 1;
    memcpy(vbuf, v, cl);
    vbuf[cl] = '\0';
#define IS(name) (klen == strlen(name) && strncasecmp(data, name, klen) == 0)
    mlcc_http_response *r = t->resp;
    if (IS("Location"))
        set_header(&r->location, v, vlen);
    else if (IS("ETag"))
        set_header(&r->etag, v, vlen);
    else if (IS("X-Linked-Etag"))
        set_header(&r->linked_etag, v, vlen);
    else if (IS("X-Repo-Commit"))
        set_header(&r->repo_commit, v, vlen);
    else if (IS("X-Error-Code"))
        set_header(&r->error_code, v, vlen);
    else if (IS("X-Error-Message"))
        set_header(&r->error_message, v, vlen);
    else if (IS("X-Linked-Size"))
        r->linked_size = strtoll(vbuf, NULL, 10);
    else if (IS("Content-Length"))
        r->content_length = strtoll(vbuf, NULL, 10);
    else if (IS("Content-Range") && strncasecmp(vbuf, "bytes ", 6) == 0)
        r->range_start = strtoll(vbuf + 6, NULL, 10);
#undef IS
    return n;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx) {
    transfer *t = ctx;
    size_t n = size * nmemb;
    long status = t->resp->status;
    if (t->req->sink && status >= 200 && status < 300) {
        if (t->req->sink(t->req->sink_ctx, t->resp, data, n) != 0) {
            t->resp->sink_failed = 1;
            return 0;
        }
        return n;
    }
    if (t->body.len + n > MAX_MEMORY_BODY) return 0;
    sb_append_n(&t->body, data, n);
    return n;
}

static int looks_offline(CURLcode rc) {
    return rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY ||
           rc == CURLE_COULDNT_CONNECT;
}

int mlcc_http_perform(const mlcc_http_request *req, mlcc_http_response *resp) {
    pthread_once(&curl_once, init_curl);
    memset(resp, 0, sizeof *resp);
    resp->linked_size = resp->content_length = resp->range_start = -1;
    transfer t = {curl_easy_init(), req, resp, STRBUF_INIT};
    if (!t.curl) {
        snprintf(resp->transport_error, sizeof resp->transport_error, "libcurl failed to start");
        return -1;
    }
    /* Seconds to wait for a connection, and for a stalled transfer to move again. */
    long timeout = env_long("MLCC_HUB_TIMEOUT", 30);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    char *token = mlcc_http_token(NULL), *auth = NULL;
    if (token) {
        mlcc_strbuf sb = STRBUF_INIT;
        sb_printf(&sb, "Authorization: Bearer %s", token);
        auth = sb_detach(&sb);
        headers = curl_slist_append(headers, auth);
    }
    char range[64];
    if (req->range_from > 0) {
        snprintf(range, sizeof range, "%lld-", (long long)req->range_from);
        curl_easy_setopt(t.curl, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(t.curl, CURLOPT_URL, req->url);
    curl_easy_setopt(t.curl, CURLOPT_USERAGENT, "mlcc/0.1");
    curl_easy_setopt(t.curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(t.curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(t.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(t.curl, CURLOPT_CONNECTTIMEOUT, timeout);
    curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(t.curl, CURLOPT_LOW_SPEED_TIME, timeout);
    curl_easy_setopt(t.curl, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(t.curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(t.curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(t.curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(t.curl, CURLOPT_ACCEPT_ENCODING, "identity");
    if (req->sink) curl_easy_setopt(t.curl, CURLOPT_BUFFERSIZE, 256L << 10); /* fewer writes */
    if (req->head) {
        curl_easy_setopt(t.curl, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(t.curl, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(t.curl, CURLOPT_MAXREDIRS, 10L);
    }
    CURLcode rc = curl_easy_perform(t.curl);
    curl_slist_free_all(headers);
    free(auth);
    free(token);
    curl_easy_cleanup(t.curl);
    resp->body_len = t.body.len;
    resp->body = t.body.data ? sb_detach(&t.body) : mlcc_xstrdup("");
    if (rc == CURLE_OK) return 0;
    if (resp->sink_failed) return 0; /* the caller's sink knows why */
    snprintf(resp->transport_error, sizeof resp->transport_error, "%s",
             errbuf[0] ? errbuf : curl_easy_strerror(rc));
    resp->offline = looks_offline(rc);
    resp->partial = resp->status != 0;
    return -1;
}

void mlcc_http_response_free(mlcc_http_response *resp) {
    clear_headers(resp);
    free(resp->body);
    resp->body = NULL;
}
