/* cmd_chat.c - `mlcc chat MODEL`: a terminal chat through the compiled model.
 *
 * MODEL is a Hugging Face folder, a GGUF file or HF://org/repo[/file.gguf]. The conversation is
 * rendered with the model's chat template each turn and tokenized without special tokens (the
 * template writes BOS); the engine reuses the KV cache of the common prefix, so a turn only
 * prefills what is new. On a terminal it is a line-edited REPL (libedit) with /commands; with
 * standard input from a pipe it answers the whole input as one message and exits. */
#include <ctype.h>
#include <dlfcn.h>
#include <histedit.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "codegen/jit.h"
#include "engine/conversation.h"
#include "engine/engine.h"
#include "grammar/grammar.h"
#include "hub/hub.h"
#include "models/model.h"
#include "models/runner.h"
#include "runtime/cuda.h"
#include "runtime/vulkan.h"
#include "cli/ticker.h"
#include "support/error.h"
#include "support/file.h"
#include "support/strbuf.h"
#include "tokenizer/tokenizer.h"

#define DEFAULT_MODEL "HF://Qwen/Qwen2.5-0.5B-Instruct"

typedef struct chat {
    const char *device; /* --device, or NULL: auto */
    mlcc_model *model;
    mlcc_model_runner runner;
    mlcc_tokenizer *tok;
    mlcc_chat_template ct;
    mlcc_engine *engine;
    json_t *messages;
    char *system;
    mlcc_gen_config cfg;
    char *stop_buf[16];
    int nstop;
    mlcc_gen_result last;
    int have_last;
    mlcc_grammar *grammar; /* --json-schema / --grammar / --regex */
} chat;

static mlcc_engine *volatile active_engine;

static void on_sigint(int sig) {
    (void)sig;
    if (active_engine) mlcc_engine_cancel(active_engine);
}

static void print_usage(FILE *out) {
    fprintf(out,
            "usage: mlcc chat [MODEL] [--device auto|cpu|cuda[:N]|vulkan[:N]] [--mode interactive|local|server]\n"
            "                 [--max-seq N] [--system TEXT]\n"
            "                 [--temperature T] [--top-p P] [--max-tokens N] [--seed S] [--quantization Q]\n"
            "                 [--json-schema FILE | --json | --grammar FILE.gbnf | --regex RE]\n"
            "MODEL: a Hugging Face model folder, a GGUF file, or HF://org/repo[/file.gguf], or a folder\n"
            "       made by `mlcc convert`; --quantization stores the weights in scheme Q (q4f16_1, ...)\n"
            "--json-schema/--json/--grammar/--regex: replies follow a JSON Schema, any JSON\n"
            "       object, a GBNF grammar or a regular expression (structured generation).\n"
            "       (default " DEFAULT_MODEL ").\n"
            "In the chat: Esc then Enter inserts a newline; /help lists the commands.\n");
}

static void print_help(void) {
    printf("/help                 this help\n"
           "/exit                 leave (Ctrl-D too; Ctrl-C stops a reply)\n"
           "/stats                prefill and decode speed of the last reply\n"
           "/metrics              the engine's counters (requests, steps, KV pages, tokens)\n"
           "/reset                start a new conversation\n"
           "/set k=v;k=v          temperature, top_p, top_k, min_p, repetition_penalty,\n"
           "                      presence_penalty, frequency_penalty, seed, max_tokens,\n"
           "                      stop=str1,str2, ignore_eos=true|false\n");
}

/* ---- /set ---- */

static void clear_stops(chat *c) {
    for (int i = 0; i < c->nstop; i++) free(c->stop_buf[i]);
    c->nstop = 0;
    c->cfg.stop = NULL;
    c->cfg.nstop = 0;
}

static int set_option(chat *c, const char *key, const char *value) {
    char *end;
    mlcc_gen_config *g = &c->cfg;
    if (strcmp(key, "stop") == 0) {
        clear_stops(c);
        const char *p = value;
        while (*p && c->nstop < 16) {
            const char *comma = strchr(p, ',');
            size_t n = comma ? (size_t)(comma - p) : strlen(p);
            if (n) c->stop_buf[c->nstop++] = strndup(p, n);
            p += n + (comma ? 1 : 0);
        }
        g->stop = (const char *const *)c->stop_buf;
        g->nstop = c->nstop;
        return 0;
    }
    if (strcmp(key, "ignore_eos") == 0) {
        if (strcmp(value, "true") && strcmp(value, "false")) return mlcc_set_error("ignore_eos is true or false");
        g->ignore_eos = strcmp(value, "true") == 0;
        return 0;
    }
    double v = strtod(value, &end);
    if (end == value || *end) return mlcc_set_error("%s: '%s' is not a number", key, value);
    if (strcmp(key, "temperature") == 0) g->sampling.temperature = (float)v;
    else if (strcmp(key, "top_p") == 0) g->sampling.top_p = (float)v;
    else if (strcmp(key, "top_k") == 0) g->sampling.top_k = (int)v;
    else if (strcmp(key, "min_p") == 0) g->sampling.min_p = (float)v;
    else if (strcmp(key, "repetition_penalty") == 0) g->sampling.repetition_penalty = (float)v;
    else if (strcmp(key, "presence_penalty") == 0) g->sampling.presence_penalty = (float)v;
    else if (strcmp(key, "frequency_penalty") == 0) g->sampling.frequency_penalty = (float)v;
    else if (strcmp(key, "seed") == 0) g->seed = (uint64_t)v, g->has_seed = 1;
    else if (strcmp(key, "max_tokens") == 0) g->max_tokens = (int)v;
    else return mlcc_set_error("unknown setting '%s' (see /help)", key);
    const char *bad = mlcc_sampling_params_check(&g->sampling, c->runner.vocab_size);
    return bad ? mlcc_set_error("%s", bad) : 0;
}

static void command_set(chat *c, const char *args) {
    char *copy = strdup(args), *save = NULL;
    for (char *item = strtok_r(copy, ";", &save); item; item = strtok_r(NULL, ";", &save)) {
        while (isspace((unsigned char)*item)) item++;
        char *eq = strchr(item, '=');
        if (!eq) {
            printf("/set: '%s' is not key=value\n", item);
            continue;
        }
        *eq = '\0';
        char *key = item, *value = eq + 1;
        for (char *t = key + strlen(key); t > key && isspace((unsigned char)t[-1]);) *--t = '\0';
        if (set_option(c, key, value) != 0) printf("/set: %s\n", mlcc_last_error());
    }
    free(copy);
}

/* ---- one turn ---- */

static void stream_to_stdout(void *ctx, const char *text, size_t len) {
    mlcc_strbuf *reply = ctx;
    fwrite(text, 1, len, stdout);
    fflush(stdout);
    sb_append_n(reply, text, len);
}

static int respond(chat *c, const char *user_text) {
    json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "user", "content", user_text));
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = mlcc_conversation_prompt_ids(&c->ct, c->tok, c->messages, 1, &ids, &n);
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", mlcc_last_error());
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        return -1;
    }
    mlcc_strbuf reply = STRBUF_INIT;
    active_engine = c->engine;
    rc = mlcc_engine_generate(c->engine, ids, n, &c->cfg, stream_to_stdout, &reply, &c->last);
    active_engine = NULL;
    free(ids);
    printf("\n");
    if (rc != 0 || strcmp(c->last.finish_reason, "error") == 0) {
        fprintf(stderr, "error: %s\n", rc != 0 ? mlcc_last_error() : c->last.error);
        json_array_remove(c->messages, json_array_size(c->messages) - 1);
        sb_free(&reply);
        return -1;
    }
    c->have_last = 1;
    json_array_append_new(c->messages, json_pack("{s:s,s:s%}", "role", "assistant", "content", sb_cstr(&reply), reply.len));
    sb_free(&reply);
    return 0;
}

static void reset_conversation(chat *c) {
    json_array_clear(c->messages);
    if (c->system) json_array_append_new(c->messages, json_pack("{s:s,s:s}", "role", "system", "content", c->system));
    mlcc_engine_reset(c->engine);
}

static void print_stats(const chat *c) {
    if (!c->have_last) {
        printf("no reply yet\n");
        return;
    }
    const mlcc_gen_result *r = &c->last;
    int prefilled = r->prompt_tokens - r->reused_tokens;
    printf("prefill: %d tokens (%d reused from the cache) in %.3f s, %.1f tok/s\n", prefilled, r->reused_tokens,
           r->prefill_seconds, r->prefill_seconds > 0 ? prefilled / r->prefill_seconds : 0.0);
    printf("decode:  %d tokens in %.3f s, %.1f tok/s (finish: %s)\n", r->completion_tokens, r->decode_seconds,
           r->decode_seconds > 0 ? r->completion_tokens / r->decode_seconds : 0.0, r->finish_reason);
}

static void print_metrics(const chat *c) {
    mlcc_engine_stats st;
    mlcc_engine_get_stats(c->engine, &st);
    printf("requests: %d running, %d waiting, %lld finished, %lld preempted\n", st.running, st.waiting, (long long)st.finished,
           (long long)st.preemptions);
    printf("steps: %lld prefill, %lld decode (largest decode batch %d)\n", (long long)st.prefill_steps,
           (long long)st.decode_steps, st.max_decode_batch);
    printf("tokens: %lld prompt (%lld reused from the prefix cache), %lld generated\n", (long long)st.prompt_tokens,
           (long long)st.reused_tokens, (long long)st.generated_tokens);
    printf("KV cache: %lld of %lld pages in use, %d cached prefixes\n", (long long)(st.total_pages - st.free_pages),
           (long long)st.total_pages, st.cached_prefixes);
}

/* ---- the REPL ---- */

static unsigned char insert_newline(EditLine *el, int ch) {
    (void)ch;
    el_insertstr(el, "\n");
    return CC_REFRESH;
}

static char *prompt_fn(EditLine *el) {
    (void)el;
    return ">>> ";
}

/* Handles a slash command; returns 1 to leave. */
static int slash_command(chat *c, const char *line) {
    if (strcmp(line, "/exit") == 0 || strcmp(line, "/quit") == 0) return 1;
    if (strcmp(line, "/help") == 0) print_help();
    else if (strcmp(line, "/stats") == 0) print_stats(c);
    else if (strcmp(line, "/metrics") == 0) print_metrics(c);
    else if (strcmp(line, "/reset") == 0) {
        reset_conversation(c);
        printf("new conversation\n");
    } else if (strncmp(line, "/set", 4) == 0 && (line[4] == ' ' || line[4] == '\0')) command_set(c, line + 4);
    else printf("unknown command %s (/help lists them)\n", line);
    return 0;
}

static void repl(chat *c, const char *argv0) {
    EditLine *el = el_init(argv0, stdin, stdout, stderr);
    History *hist = history_init();
    HistEvent ev;
    history(hist, &ev, H_SETSIZE, 1000);
    el_set(el, EL_PROMPT, prompt_fn);
    el_set(el, EL_EDITOR, "emacs");
    el_set(el, EL_HIST, history, hist);
    el_set(el, EL_ADDFN, "mlcc-newline", "insert a newline", insert_newline);
    el_set(el, EL_BIND, "\033\r", "mlcc-newline", NULL);
    el_set(el, EL_BIND, "\033\n", "mlcc-newline", NULL);
    printf("Type a message; /help lists the commands; Esc then Enter inserts a newline.\n");
    for (;;) {
        int count;
        const char *line = el_gets(el, &count);
        if (!line) {
            printf("\n");
            break;
        }
        char *text = strdup(line);
        size_t n = strlen(text);
        while (n && (text[n - 1] == '\n' || text[n - 1] == '\r')) text[--n] = '\0';
        if (n == 0) {
            free(text);
            continue;
        }
        history(hist, &ev, H_ENTER, text);
        int quit = 0;
        if (text[0] == '/') quit = slash_command(c, text);
        else respond(c, text);
        free(text);
        if (quit) break;
    }
    history_end(hist);
    el_end(el);
}

/* ---- start-up ---- */

/* The memory estimate: parameters, the KV cache the runner made, and the temporary buffers the
 * library planned (from its metadata). */
static void log_memory(const chat *c) {
    size_t param_bytes = 0;
    for (int i = 0; i < c->model->params.n; i++) param_bytes += mlcc_ndarray_nbytes(c->model->weights[i]);
    const mlcc_model_config *mc = &c->model->cfg;
    int64_t pages = c->runner.total_pages(c->runner.impl), page_size = c->model->bounds.page_size;
    double kv_bytes = 2.0 * (double)mc->layers * (double)mc->kv_heads * (double)mc->head_dim * 4.0 * (double)(pages * page_size);
    double temp_bytes = 0;
    const char *meta = mlcc_vm_metadata(c->model->vm);
    json_t *j = meta ? json_loads(meta, 0, NULL) : NULL;
    json_t *t = j ? json_object_get(json_object_get(j, "memory"), "temporary_bytes") : NULL;
    if (json_is_integer(t)) temp_bytes = (double)json_integer_value(t);
    json_decref(j);
    fprintf(stderr, "[mlcc] memory: parameters %.1f MB, KV cache %.1f MB (%lld tokens in %lld pages), temporary buffers %.1f MB\n",
            param_bytes / 1048576.0, kv_bytes / 1048576.0, (long long)(pages * page_size), (long long)pages,
            temp_bytes / 1048576.0);
}

/* The start-up lines about devices: what was found, and which one runs the model ("auto": the
 * first CUDA GPU when there is one, else the CPU; a Vulkan device is used only when asked for,
 * since on a machine without a GPU it is a CPU emulation). */
static const char *log_devices(const char *asked) {
    int ncuda = mlcc_cuda_available() ? mlcc_cuda_device_count() : 0;
    int nvk = mlcc_vulkan_available() ? mlcc_vulkan_device_count() : 0;
    fprintf(stderr, "[mlcc] devices: cpu (%ld cores)", sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < ncuda; i++) fprintf(stderr, ", cuda:%d", i);
    for (int i = 0; i < nvk; i++) fprintf(stderr, ", vulkan:%d", i);
    if (!ncuda) fprintf(stderr, "; cuda: %s", mlcc_cuda_status());
    fprintf(stderr, "\n");
    const char *used = !strcmp(asked, "auto") ? (ncuda ? "cuda:0" : "cpu") : asked;
    fprintf(stderr, "[mlcc] device used: %s\n", used);
    return used;
}

/* --json-schema FILE, --json, --grammar FILE, --regex RE: the grammar replies follow. */
static int set_grammar(chat *c, const char *kind, const char *arg) {
    if (c->grammar) return mlcc_set_error("only one of --json-schema, --json, --grammar, --regex");
    if (!strcmp(kind, "--regex")) {
        c->grammar = mlcc_grammar_from_regex(arg, strlen(arg));
    } else if (!strcmp(kind, "--json")) {
        c->grammar = mlcc_grammar_json_any(NULL, 1);
    } else {
        size_t len;
        char *text = mlcc_read_file(arg, &len);
        if (!text) return -1;
        c->grammar = !strcmp(kind, "--grammar") ? mlcc_grammar_from_ebnf(text, len, arg) : mlcc_grammar_from_json_schema(text, len, NULL);
        free(text);
    }
    if (!c->grammar) return -1;
    c->cfg.grammar = c->grammar;
    return 0;
}

static int parse_args(int argc, char **argv, const char **model, int64_t *max_seq, const char **mode, const char **quant, chat *c) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_usage(stdout);
            exit(0);
        }
        int has_value = i + 1 < argc;
        if (strcmp(a, "--max-seq") == 0 && has_value) *max_seq = atoll(argv[++i]);
        else if (strcmp(a, "--mode") == 0 && has_value) *mode = argv[++i];
        else if (strcmp(a, "--device") == 0 && has_value) c->device = argv[++i];
        else if (strcmp(a, "--quantization") == 0 && has_value) *quant = argv[++i];
        else if (strcmp(a, "--system") == 0 && has_value) c->system = strdup(argv[++i]);
        else if (strcmp(a, "--temperature") == 0 && has_value) set_option(c, "temperature", argv[++i]);
        else if (strcmp(a, "--top-p") == 0 && has_value) set_option(c, "top_p", argv[++i]);
        else if (strcmp(a, "--max-tokens") == 0 && has_value) set_option(c, "max_tokens", argv[++i]);
        else if (strcmp(a, "--seed") == 0 && has_value) set_option(c, "seed", argv[++i]);
        else if ((strcmp(a, "--json-schema") == 0 || strcmp(a, "--grammar") == 0 || strcmp(a, "--regex") == 0) && has_value) {
            if (set_grammar(c, a, argv[++i])) {
                fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
                return -1;
            }
        } else if (strcmp(a, "--json") == 0) {
            if (set_grammar(c, a, NULL)) {
                fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
                return -1;
            }
        } else if (a[0] == '-') {
            fprintf(stderr, "mlcc chat: unknown option %s\n", a);
            print_usage(stderr);
            return -1;
        } else *model = a;
    }
    return 0;
}

int cmd_chat(int argc, char **argv) {
    chat c;
    memset(&c, 0, sizeof c);
    c.cfg = mlcc_gen_defaults();
    c.cfg.sampling.temperature = 0.7f;
    c.cfg.sampling.top_p = 0.95f;
    const char *model_arg = NULL;
    int64_t max_seq = 0; /* the mode's choice */
    const char *mode = "interactive", *quant = NULL;
    if (parse_args(argc, argv, &model_arg, &max_seq, &mode, &quant, &c) != 0) return 2;
    if (!model_arg || !*model_arg) model_arg = DEFAULT_MODEL;

    const char *device = log_devices(c.device ? c.device : "auto");
    char *path = mlcc_hub_resolve(model_arg);
    if (!path) {
        fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
        if (mlcc_hub_is_uri(model_arg))
            fprintf(stderr, "mlcc chat: to chat with a local model instead, pass its folder or GGUF file "
                            "(`make chat MODEL=path/to/model`).\n");
        return 1;
    }
    fprintf(stderr, "[mlcc] model: %s\n", path);

    mlcc_jit_stats before = mlcc_jit_get_stats();
    char *home = mlcc_home_dir();
    fprintf(stderr, "[mlcc] preparing the model library (compiled on first use, then cached in %s/cache) ...\n", home);
    free(home);
    mlcc_model_options opt = {
        .max_seq = max_seq, .mode = mode, .device = strcmp(device, "cpu") ? device : NULL, .quantization = quant};
    mlcc_ticker *ticker = mlcc_ticker_start("loading the weights and compiling the model library");
    c.model = mlcc_model_open(path, &opt);
    double seconds = mlcc_ticker_stop(ticker);
    if (!c.model) {
        fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
        free(path);
        return 1;
    }
    mlcc_jit_stats after = mlcc_jit_get_stats();
    fprintf(stderr, "[mlcc] model library: %s (%.1f s with the weights)\n",
            after.compiles > before.compiles ? "compiled now (cached for next time under MLCC_HOME/cache)"
                                             : "loaded from the compile cache",
            seconds);
    c.tok = NULL;
    if (mlcc_model_runner_init(&c.runner, c.model, 0) != 0) {
        fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
        mlcc_model_free(c.model);
        free(path);
        return 1;
    }
    char plan[512];
    mlcc_plan_describe(&c.model->plan, plan, sizeof plan);
    fprintf(stderr, "[mlcc] %s\n", plan);
    log_memory(&c);

    c.tok = mlcc_tokenizer_load(path);
    int ok = c.tok != NULL;
    if (ok) ok = mlcc_conversation_template(path, c.tok, "chatml", &c.ct) == 0;
    if (!ok) {
        fprintf(stderr, "mlcc chat: %s\n", mlcc_last_error());
        if (c.tok) mlcc_tokenizer_free(c.tok);
        mlcc_model_runner_free(&c.runner);
        mlcc_model_free(c.model);
        free(path);
        return 1;
    }
    c.engine = mlcc_engine_new(&c.runner, c.tok, c.model->cfg.eos_ids, c.model->cfg.n_eos);
    c.messages = json_array();
    reset_conversation(&c);
    signal(SIGINT, on_sigint);

    int rc = 0;
    if (isatty(STDIN_FILENO)) {
        repl(&c, argv[0]);
    } else {
        /* non-interactive: the whole input is one message */
        size_t len = 0, cap = 4096;
        char *text = malloc(cap);
        for (size_t got; (got = fread(text + len, 1, cap - len - 1, stdin)) > 0;) {
            len += got;
            if (len + 1 >= cap) text = realloc(text, cap *= 2);
        }
        text[len] = '\0';
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r')) text[--len] = '\0';
        rc = len ? respond(&c, text) : 0;
        free(text);
    }
    mlcc_engine_free(c.engine);
    mlcc_model_runner_free(&c.runner);
    clear_stops(&c);
    mlcc_grammar_free(c.grammar);
    json_decref(c.messages);
    mlcc_chat_template_free(&c.ct);
    mlcc_tokenizer_free(c.tok);
    mlcc_model_free(c.model);
    free(c.system);
    free(path);
    return rc ? 1 : 0;
}
