/* http.c - the OpenAI-compatible HTTP server (see http.h).
 *
 * Threads: the I/O thread runs the event loop and owns every evhttp object. The C API calls
 * on_llm_response on engine threads; it copies the JSON into `inbox` under `lock` and writes
 * one byte to the wake pipe when the inbox was empty; the I/O thread drains the pipe and the
 * inbox and writes to the sockets.
 *
 * A generation request is an http_call. It lives from submission until its final response has
 * been handled on the I/O thread, even when its client left before: then `gone` is set (from
 * the connection's close callback, which also aborts the request) and the evhttp request, which
 * libevent frees with the connection, is not touched again. */
#include "serve/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "serve/llm_internal.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/json.h"

typedef struct http_server http_server;

typedef struct http_call {
    http_server *srv;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    uint64_t id;
    int stream;
    int gone;    /* the client disconnected; req is NULL, or detached and ours to free */
    int aborted; /* the client was seen leaving (peek_clients); req is still ours */
    struct http_call *prev, *next;
} http_call;

typedef struct inbox_msg {
    http_call *call;
    char *json;
    int status, final;
    struct inbox_msg *next;
} inbox_msg;

struct http_server {
    mlcc_llm *llm;
    serve_http_options opt;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *listener;
    struct event *wake_ev, *sigint_ev, *sigterm_ev, *grace_ev, *peek_ev;
    int wake[2];
    pthread_mutex_t lock; /* inbox */
    pthread_cond_t arrived;
    inbox_msg *inbox_head, *inbox_tail;
    http_call *calls; /* open generation requests (I/O thread only) */
    int ncalls;
    int shutting_down;
};

/* ---- small helpers ---- */

static const char *reason_phrase(int status) {
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 503: return "Service Unavailable";
    default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

static void add_common_headers(http_server *s, struct evhttp_request *req, const char *content_type) {
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    if (content_type) evhttp_add_header(h, "Content-Type", content_type);
    if (s->opt.cors) {
        evhttp_add_header(h, "Access-Control-Allow-Origin", "*");
        evhttp_add_header(h, "Access-Control-Allow-Headers", "Authorization, Content-Type");
        evhttp_add_header(h, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    }
}

static void reply(http_server *s, struct evhttp_request *req, int status, const char *content_type, const char *body,
                  size_t len) {
    struct evbuffer *buf = evbuffer_new();
    if (body) evbuffer_add(buf, body, len);
    add_common_headers(s, req, content_type);
    evhttp_send_reply(req, status, reason_phrase(status), buf);
    evbuffer_free(buf);
}

static void reply_json(http_server *s, struct evhttp_request *req, int status, const char *json) {
    reply(s, req, status, "application/json", json, strlen(json));
}

/* An error in OpenAI's shape, counted in the metrics. */
static void reply_error(http_server *s, struct evhttp_request *req, int status, const char *type, const char *code,
                        const char *message) {
    /* the message may quote the URL, percent-decoded and cut at a byte count: as a strict
     * string, invalid UTF-8 there made the JSON NULL and strlen(NULL) crashed the server */
    json_t *inner = json_object();
    json_object_set_new(inner, "message", mlcc_json_string_lossy(message, strlen(message)));
    json_object_set_new(inner, "type", json_string(type));
    json_object_set_new(inner, "param", json_null());
    json_object_set_new(inner, "code", code ? json_string(code) : json_null());
    json_t *root = json_pack("{s:o}", "error", inner);
    char *text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    reply_json(s, req, status, text);
    free(text);
    json_decref(root);
    mlcc_llm_count_status(s->llm, status);
}

/* ---- generation requests ---- */

static void unlink_call(http_server *s, http_call *c) {
    if (c->prev) c->prev->next = c->next;
    else s->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    s->ncalls--;
    free(c);
    if (s->shutting_down && s->ncalls == 0) {
        /* the last reply is still in libevent's output buffers: give it a moment to leave */
        struct timeval flush = {0, 500 * 1000};
        event_base_loopexit(s->base, &flush);
    }
}

/* Engine threads: queue the response for the I/O thread. */
static void on_llm_response(void *user, const char *json, int status, int final) {
    http_call *c = user;
    http_server *s = c->srv;
    inbox_msg *m = mlcc_xcalloc(1, sizeof *m);
    m->call = c;
    m->json = mlcc_xstrdup(json);
    m->status = status;
    m->final = final;
    pthread_mutex_lock(&s->lock);
    int was_empty = s->inbox_head == NULL;
    if (s->inbox_tail) s->inbox_tail->next = m;
    else s->inbox_head = m;
    s->inbox_tail = m;
    pthread_cond_broadcast(&s->arrived);
    pthread_mutex_unlock(&s->lock);
    if (was_empty) {
        char byte = 1;
        ssize_t w = write(s->wake[1], &byte, 1); /* non-blocking; a full pipe is already awake */
        (void)w;
    }
}

/* The connection is going away. When the client left (end of file, a socket error, a timeout)
 * libevent detaches the unfinished request from the connection and leaves it to us: we free it
 * once the final response comes. When the connection is freed with the request still attached
 * (evhttp_free at shutdown), libevent frees the request with it. */
static void on_client_close(struct evhttp_connection *conn, void *arg) {
    http_call *c = arg;
    (void)conn;
    c->gone = 1;
    if (c->req && evhttp_request_get_connection(c->req) != NULL) c->req = NULL;
    mlcc_llm_abort(c->srv->llm, c->id);
}

/* libevent notices a client's leaving only when it writes to it, or for an idle connection; a
 * request waiting for the engine (or in the queue) would never be cancelled. So every open
 * request's socket is looked at periodically: end of file or an error means the client left. */
static void peek_clients(evutil_socket_t fd_unused, short what, void *arg) {
    http_server *s = arg;
    (void)fd_unused, (void)what;
    for (http_call *c = s->calls; c; c = c->next) {
        if (c->gone || c->aborted) continue;
        struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
        evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
        if (fd < 0) continue;
        char byte;
        ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            c->aborted = 1; /* its final (499) reply then fails, and libevent closes the connection */
            mlcc_llm_abort(s->llm, c->id);
        }
    }
}

static void send_event(struct evhttp_request *req, const char *data) {
    struct evbuffer *buf = evbuffer_new();
    evbuffer_add_printf(buf, "data: %s\n\n", data);
    evhttp_send_reply_chunk(req, buf);
    evbuffer_free(buf);
}

/* I/O thread: one response JSON for a call. */
static void deliver(http_server *s, inbox_msg *m) {
    http_call *c = m->call;
    if (!c->gone) {
        /* before replying: libevent may free a finished connection once the reply is out */
        if (m->final) {
            evhttp_connection_set_closecb(c->conn, NULL, NULL);
            evhttp_connection_set_timeout(c->conn, s->opt.timeout_s);
        }
        if (!c->stream) {
            reply_json(s, c->req, m->status, m->json);
        } else {
            send_event(c->req, m->json);
            if (m->final) {
                send_event(c->req, "[DONE]");
                evhttp_send_reply_end(c->req);
            }
        }
    } else if (m->final && c->req) {
        evhttp_request_free(c->req); /* detached from its closed connection: ours */
        c->req = NULL;
    }
    if (m->final) unlink_call(s, c);
}

static void drain_inbox(http_server *s) {
    pthread_mutex_lock(&s->lock);
    inbox_msg *m = s->inbox_head;
    s->inbox_head = s->inbox_tail = NULL;
    pthread_mutex_unlock(&s->lock);
    while (m) {
        inbox_msg *next = m->next;
        deliver(s, m);
        free(m->json);
        free(m);
        m = next;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg) {
    (void)what;
    char buf[256];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    drain_inbox(arg);
}

static void handle_generation(http_server *s, struct evhttp_request *req, mlcc_llm_kind kind) {
    if (s->shutting_down) {
        reply_error(s, req, 503, "server_error", NULL, "The server is shutting down.");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > s->opt.max_body) {
        char msg[160];
        snprintf(msg, sizeof msg, "The request body has %zu bytes; the limit is %zu.", len, s->opt.max_body);
        reply_error(s, req, 413, "invalid_request_error", "request_too_large", msg);
        return;
    }
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    http_call *c = mlcc_xcalloc(1, sizeof *c);
    c->srv = s;
    c->req = req;
    c->conn = evhttp_request_get_connection(req);
    /* is it a stream? The C API parses the request properly; this only picks the reply form */
    json_t *root = json_loadb(body, len, 0, NULL);
    c->stream = json_is_true(json_object_get(root, "stream"));
    json_decref(root);
    char *error_json = NULL;
    int status = mlcc_llm_submit(s->llm, body, (ptrdiff_t)len, kind, on_llm_response, c, &c->id, &error_json);
    if (status != 0) {
        reply_json(s, req, status, error_json ? error_json : "{}");
        mlcc_llm_free_string(error_json);
        free(c);
        return;
    }
    c->next = s->calls;
    if (s->calls) s->calls->prev = c;
    s->calls = c;
    s->ncalls++;
    evhttp_connection_set_closecb(c->conn, on_client_close, c);
    /* the idle timeout is for idle connections and slow senders, not for a request waiting on
     * the engine (a client that leaves is noticed by peek_clients) */
    evhttp_connection_set_timeout(c->conn, 7 * 86400);
    if (c->stream) {
        add_common_headers(s, req, "text/event-stream");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-cache");
        evhttp_send_reply_start(req, 200, "OK");
    }
}

/* ---- other endpoints ---- */

static void handle_models(http_server *s, struct evhttp_request *req, const char *which) {
    const char *id = mlcc_llm_model_id(s->llm);
    json_t *model = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "object", "model", "created",
                              (json_int_t)mlcc_llm_created(s->llm), "owned_by", "mlcc");
    if (which) {
        if (strcmp(which, id) != 0) {
            json_decref(model);
            char msg[300];
            snprintf(msg, sizeof msg, "The model '%.200s' does not exist.", which);
            reply_error(s, req, 404, "invalid_request_error", "model_not_found", msg);
            return;
        }
    } else model = json_pack("{s:s,s:[o]}", "object", "list", "data", model);
    char *text = json_dumps(model, JSON_COMPACT | JSON_PRESERVE_ORDER);
    reply_json(s, req, 200, text);
    free(text);
    json_decref(model);
}

static void handle_metrics(http_server *s, struct evhttp_request *req) {
    char *text = mlcc_llm_metrics_prometheus(s->llm);
    reply(s, req, 200, "text/plain; version=0.0.4; charset=utf-8", text, strlen(text));
    free(text);
}

static int authorized(http_server *s, struct evhttp_request *req) {
    if (!s->opt.api_key) return 1;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return 0;
    h += 7;
    while (*h == ' ') h++;
    /* compare in constant time with respect to the key's content */
    size_t n = strlen(s->opt.api_key), m = strlen(h);
    unsigned diff = n != m;
    for (size_t i = 0; i < n; i++) diff |= (unsigned)(unsigned char)s->opt.api_key[i] ^ (unsigned)(unsigned char)(i < m ? h[i] : 0);
    return diff == 0;
}

static void on_request(struct evhttp_request *req, void *arg) {
    http_server *s = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    if (!path || !*path) path = "/";
    if (method == EVHTTP_REQ_OPTIONS && s->opt.cors) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Access-Control-Max-Age", "600");
        reply(s, req, 204, NULL, NULL, 0);
        return;
    }
    int is_get = method == EVHTTP_REQ_GET, is_post = method == EVHTTP_REQ_POST;
    if (strcmp(path, "/health") == 0 && is_get) {
        if (s->shutting_down) reply_json(s, req, 503, "{\"status\":\"shutting down\"}");
        else reply_json(s, req, 200, "{\"status\":\"ok\"}");
        return;
    }
    if (strcmp(path, "/metrics") == 0 && is_get) {
        handle_metrics(s, req);
        return;
    }
    int v1 = strncmp(path, "/v1/", 4) == 0;
    if (v1 && !authorized(s, req)) {
        reply_error(s, req, 401, "invalid_request_error", "invalid_api_key",
                    "Incorrect API key provided. Pass it as 'Authorization: Bearer KEY'.");
        return;
    }
    int chat = strcmp(path, "/v1/chat/completions") == 0, completion = strcmp(path, "/v1/completions") == 0;
    int models = strcmp(path, "/v1/models") == 0, one_model = strncmp(path, "/v1/models/", 11) == 0 && path[11];
    if ((chat || completion) && is_post) handle_generation(s, req, chat ? MLCC_LLM_CHAT : MLCC_LLM_COMPLETION);
    else if ((models || one_model) && is_get) {
        char *decoded = one_model ? evhttp_uridecode(path + 11, 0, NULL) : NULL;
        handle_models(s, req, decoded);
        free(decoded);
    } else if (chat || completion || models || one_model || strcmp(path, "/health") == 0 || strcmp(path, "/metrics") == 0) {
        reply_error(s, req, 405, "invalid_request_error", "method_not_allowed", "This method is not allowed here.");
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "Unknown endpoint '%.100s'.", path);
        reply_error(s, req, 404, "invalid_request_error", "unknown_url", msg);
    }
}

/* ---- start and shutdown ---- */

static void abort_all(http_server *s) {
    for (http_call *c = s->calls; c; c = c->next) mlcc_llm_abort(s->llm, c->id);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    abort_all(arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
    http_server *s = arg;
    (void)what;
    if (s->shutting_down) { /* second signal: stop now */
        fprintf(stderr, "[mlcc] stopping now\n");
        abort_all(s);
        return;
    }
    s->shutting_down = 1;
    fprintf(stderr, "[mlcc] %s: no new connections; %d open request(s) get %d s to finish\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM", s->ncalls, s->opt.grace_s);
    if (s->listener) evhttp_del_accept_socket(s->http, s->listener);
    s->listener = NULL;
    if (s->ncalls == 0) {
        event_base_loopexit(s->base, NULL);
        return;
    }
    struct timeval tv = {s->opt.grace_s, 0};
    s->grace_ev = evtimer_new(s->base, on_grace_over, s);
    evtimer_add(s->grace_ev, &tv);
}

void serve_http_defaults(serve_http_options *o) {
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8000;
    o->max_body = 8u << 20;
    o->max_headers = 64u << 10;
    o->timeout_s = 600;
    o->grace_s = 10;
}

static int bound_port(struct evhttp_bound_socket *b) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &len) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6) return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/* After the loop: calls still open are aborted; wait for their final responses (the engine
 * delivers them promptly once aborted), touching no evhttp object. */
static void finish_open_calls(http_server *s) {
    for (http_call *c = s->calls; c; c = c->next) {
        if (!c->gone) c->req = NULL; /* freed by evhttp_free with its connection */
        c->gone = 1;
    }
    abort_all(s);
    pthread_mutex_lock(&s->lock);
    while (s->ncalls > 0) {
        while (!s->inbox_head) pthread_cond_wait(&s->arrived, &s->lock);
        inbox_msg *m = s->inbox_head;
        s->inbox_head = s->inbox_tail = NULL;
        pthread_mutex_unlock(&s->lock);
        while (m) {
            inbox_msg *next = m->next;
            if (m->final && m->call->gone && m->call->req) evhttp_request_free(m->call->req);
            if (m->final) unlink_call(s, m->call);
            free(m->json);
            free(m);
            m = next;
        }
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
}

int serve_http_run(mlcc_llm *llm, const serve_http_options *opt) {
    http_server s;
    memset(&s, 0, sizeof s);
    s.llm = llm;
    s.opt = *opt;
    signal(SIGPIPE, SIG_IGN);
    if (pipe(s.wake) != 0) return mlcc_set_error("serve: pipe: %s", strerror(errno));
    fcntl(s.wake[0], F_SETFL, O_NONBLOCK);
    fcntl(s.wake[1], F_SETFL, O_NONBLOCK);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.arrived, NULL);
    s.base = event_base_new();
    s.http = evhttp_new(s.base);
    int rc = 0;
    s.listener = evhttp_bind_socket_with_handle(s.http, opt->host, (ev_uint16_t)opt->port);
    if (!s.listener) {
        rc = mlcc_set_error("serve: cannot listen on %s:%d: %s", opt->host, opt->port, strerror(errno));
        goto done;
    }
    /* the body limit is enforced by us (a JSON 413); libevent's own cut-off is a backstop */
    evhttp_set_max_body_size(s.http, (ev_ssize_t)(opt->max_body * 2 + 4096));
    evhttp_set_max_headers_size(s.http, (ev_ssize_t)opt->max_headers);
    evhttp_set_timeout(s.http, opt->timeout_s);
    evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s.http, on_request, &s);
    s.wake_ev = event_new(s.base, s.wake[0], EV_READ | EV_PERSIST, on_wake, &s);
    event_add(s.wake_ev, NULL);
    struct timeval peek_every = {0, 100 * 1000};
    s.peek_ev = event_new(s.base, -1, EV_PERSIST, peek_clients, &s);
    event_add(s.peek_ev, &peek_every);
    s.sigint_ev = evsignal_new(s.base, SIGINT, on_signal, &s);
    s.sigterm_ev = evsignal_new(s.base, SIGTERM, on_signal, &s);
    event_add(s.sigint_ev, NULL);
    event_add(s.sigterm_ev, NULL);
    fprintf(stderr, "[mlcc] serving '%s' on http://%s:%d\n", mlcc_llm_model_id(llm), opt->host, bound_port(s.listener));
    fflush(stderr);
    event_base_dispatch(s.base);
    fprintf(stderr, "[mlcc] shutting down\n");
done:
    if (s.http) evhttp_free(s.http); /* closes connections; their requests are freed */
    finish_open_calls(&s);
    if (s.wake_ev) event_free(s.wake_ev);
    if (s.sigint_ev) event_free(s.sigint_ev);
    if (s.sigterm_ev) event_free(s.sigterm_ev);
    if (s.grace_ev) event_free(s.grace_ev);
    if (s.peek_ev) event_free(s.peek_ev);
    event_base_free(s.base);
    close(s.wake[0]);
    close(s.wake[1]);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.arrived);
    return rc;
}
