/* cmd_bench.c - `mlcc bench`: the numbers users compare (issue 10), with the physical floors
 * measured in the same run (DESIGN.md §8).
 *   mlcc bench MODEL | --random-weights CONFIG.json [--prompt-len 512] [--gen-len 128]
 *              [--batch 1,16,64] [--threads N] [--device cpu|cuda[:N]|vulkan[:N]] [--quantization q0f16]
 *              [--repeat 3] [--seed S] [--json]
 *   mlcc bench serve --url URL ...   (a load generator: bench_serve.c)
 * The model runs through the engine exactly as `mlcc chat` runs it (engine/bench.h says what is
 * measured); the floors come from engine/bench_floor.h and the model's shapes:
 *   decode:  bandwidth / (bytes of weights read per step + b x KV bytes per sequence), per
 *            sequence x b, and no faster than the GEMM rate / decode flops per token;
 *   prefill: GEMM rate / flops per prompt token (2 per weight of the layers + attention). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>

#include "cli/commands.h"
#include "engine/bench.h"
#include "engine/bench_floor.h"
#include "engine/engine.h"
#include "hub/hub.h"
#include "loader/gguf.h"
#include "loader/safetensors.h"
#include "models/model.h"
#include "models/random_model.h"
#include "models/runner.h"
#include "models/synthetic_vocab.h"
#include "runtime/cuda.h"
#include "runtime/threadpool.h"
#include "runtime/vulkan.h"
#include "support/error.h"
#include "support/file.h"
#include "transform/schedule_quant.h"
#include "tokenizer/tokenizer.h"

int cmd_bench_serve(int argc, char **argv);

typedef struct bench_args {
    const char *model, *random_config;
    const char *device, *quantization; /* NULL: cpu; the model's own */
    int prompt_len, gen_len, threads, json, repeat;
    int prefill_also; /* another prompt length whose prefill is measured too (0: none) */
    double prefill_also_tok_s, prefill_also_ttft_ms;
    int floor_mb; /* the buffer of the bandwidth floor */
    double peak_mb; /* of the model run */
    mlcc_bench_options opt;
    uint64_t seed;
} bench_args;

static void usage(FILE *f) {
    fprintf(f, "usage: mlcc bench MODEL [--prompt-len 512] [--gen-len 128] [--batch 1,16,64] [--threads N]\n"
               "                  [--device cpu|cuda[:N]|vulkan[:N]] [--quantization Q] [--repeat 3] [--seed S] [--floor-mb MB] [--json]\n"
               "                  [--prefill-also N] [--temperature T] [--top-k K] [--top-p P]\n"
               "       mlcc bench --random-weights CONFIG.json [same options]\n"
               "       mlcc bench serve --url URL [--concurrency N] [--requests M] [--prompt-len P] [--gen-len G] [--model NAME]\n"
               "\n"
               "MODEL: a Hugging Face folder, a GGUF file or HF://org/repo[/file.gguf]; --random-weights runs a\n"
               "model of that config's shape with seeded random weights instead.\n"
               "Measures, through the engine: prefill tokens/s and time to first token (one request), decode\n"
               "tokens/s for each batch size (b concurrent requests, steady decode steps only: each request\n"
               "generates --gen-len tokens plus one per prefill step the b prompts take) with inter-token\n"
               "latency p50/p99, peak host memory; and in the same run the memory bandwidth and a GEMM rate,\n"
               "giving the fastest decode and prefill this machine allows and the ratio to them. --json prints\n"
               "one JSON object as the last line. --floor-mb: the buffer the bandwidth is read from (default twice\n"
               "the last-level cache, 256..2048 MB). --temperature / --top-k / --top-p: the decode requests sample\n"
               "(seeded) instead of decoding greedily.\n");
}

static int parse_float(const char *opt, const char *s, float lo, float hi, float *out) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi)) return mlcc_set_error("%s '%s': expected a number in [%g, %g]", opt, s, lo, hi);
    *out = (float)v;
    return 0;
}

static int parse_int(const char *opt, const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno || v < lo || v > hi) return mlcc_set_error("%s '%s': expected an integer in %d..%d", opt, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int parse_batches(const char *s, mlcc_bench_options *o) {
    o->nbatch = 0;
    const char *p = s;
    while (*p) {
        if (o->nbatch == MLCC_BENCH_MAX_BATCHES) return mlcc_set_error("--batch: at most %d sizes", MLCC_BENCH_MAX_BATCHES);
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 4096 || (*end && *end != ','))
            return mlcc_set_error("--batch '%s': expected batch sizes 1..4096 separated by commas", s);
        o->batches[o->nbatch++] = (int)v;
        p = *end ? end + 1 : end;
    }
    return o->nbatch ? 0 : mlcc_set_error("--batch: no sizes given");
}

/* Twice the last-level cache (at least 256 MiB, at most 2 GiB), so the read streams from memory. */
static int default_floor_mb(void) {
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc <= 0) llc = sysconf(_SC_LEVEL2_CACHE_SIZE);
    long mb = llc > 0 ? 2 * (llc >> 20) : 0;
    return mb < 256 ? 256 : mb > 2048 ? 2048 : (int)mb;
}

static int parse_args(int argc, char **argv, bench_args *a) {
    memset(a, 0, sizeof *a);
    a->prompt_len = 512, a->gen_len = 128, a->repeat = 3, a->floor_mb = default_floor_mb();
    a->opt.sampling = mlcc_sampling_defaults();
    int have_batch = 0;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int has = i + 1 < argc, rc = 0;
        if (!strcmp(s, "--prompt-len") && has) rc = parse_int(s, argv[++i], 1, 1 << 20, &a->prompt_len);
        else if (!strcmp(s, "--gen-len") && has) rc = parse_int(s, argv[++i], 2, 1 << 20, &a->gen_len);
        else if (!strcmp(s, "--threads") && has) rc = parse_int(s, argv[++i], 1, 4096, &a->threads);
        else if (!strcmp(s, "--repeat") && has) rc = parse_int(s, argv[++i], 1, 1000, &a->repeat);
        else if (!strcmp(s, "--prefill-also") && has) rc = parse_int(s, argv[++i], 1, 1 << 20, &a->prefill_also);
        else if (!strcmp(s, "--floor-mb") && has) rc = parse_int(s, argv[++i], 1, 1 << 20, &a->floor_mb);
        else if (!strcmp(s, "--batch") && has) rc = parse_batches(argv[++i], &a->opt), have_batch = 1;
        else if (!strcmp(s, "--random-weights") && has) a->random_config = argv[++i];
        else if (!strcmp(s, "--temperature") && has) rc = parse_float(s, argv[++i], 0, 100, &a->opt.sampling.temperature), a->opt.sample = 1;
        else if (!strcmp(s, "--top-p") && has) rc = parse_float(s, argv[++i], 1e-6f, 1, &a->opt.sampling.top_p), a->opt.sample = 1;
        else if (!strcmp(s, "--top-k") && has) rc = parse_int(s, argv[++i], 0, 1 << 30, &a->opt.sampling.top_k), a->opt.sample = 1;
        else if (!strcmp(s, "--json")) a->json = 1;
        else if (!strcmp(s, "--seed") && has) {
            char *end;
            a->seed = strtoull(argv[++i], &end, 10);
            if (end == argv[i] || *end) rc = mlcc_set_error("--seed '%s' is not a number", argv[i]);
        } else if (!strcmp(s, "--device") && has) {
            const char *dev = argv[++i];
            if (!strncmp(dev, "cuda", 4)) {
                a->device = dev; /* cuda:N is checked when the model opens */
                if (!mlcc_cuda_available()) rc = mlcc_set_error("--device %s: %s", dev, mlcc_cuda_status());
            } else if (!strncmp(dev, "vulkan", 6)) {
                a->device = dev; /* vulkan:N is checked when the model opens */
                if (!mlcc_vulkan_available()) rc = mlcc_set_error("--device %s: %s", dev, mlcc_vulkan_status());
            } else if (strcmp(dev, "cpu") && strcmp(dev, "auto"))
                rc = mlcc_set_error("--device '%s': cpu, auto, cuda, cuda:N, vulkan or vulkan:N", dev);
        } else if (!strcmp(s, "--quantization") && has) {
            a->quantization = argv[++i];
        } else if (s[0] == '-' || a->model) rc = mlcc_set_error("unknown or incomplete option '%s'", s);
        else a->model = s;
        if (rc) return -1;
    }
    if (!have_batch) a->opt.batches[0] = 1, a->opt.batches[1] = 16, a->opt.batches[2] = 64, a->opt.nbatch = 3;
    if (!a->model == !a->random_config) return mlcc_set_error("give a MODEL or --random-weights CONFIG.json (one of them)");
    return 0;
}

/* ---- the model ---- */

/* A random-weight Hugging Face folder under TMPDIR (f16 on disk; loaded as float32). */
static char *write_random_folder(const bench_args *a) {
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/mlcc-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return mlcc_set_error("%s: %s", dir, strerror(errno)), NULL;
    mlcc_random_model_spec s = {a->random_config, dir, RANDOM_MODEL_SAFETENSORS, "f16", a->seed, 0};
    if (mlcc_random_model_write(&s)) {
        mlcc_remove_tree_quietly(dir); /* the cause is reported, not a failed clean-up */
        return NULL;
    }
    return strdup(dir);
}

static int64_t seq_bound(int64_t need) {
    int64_t b = 128;
    while (b < need) b *= 2;
    return b;
}

static int max_batch(const mlcc_bench_options *o) {
    int b = 1;
    for (int i = 0; i < o->nbatch; i++)
        if (o->batches[i] > b) b = o->batches[i];
    return b;
}

/* What one token costs in memory traffic and arithmetic, from the loaded weights. */
typedef struct model_costs {
    double weight_bytes;       /* read by one decode step: every weight but the embedding rows */
    double kv_bytes_per_pos;   /* K and V of one position, all layers */
    double matmul_params;      /* 2-D weights of the layers (no embedding, no lm_head) */
    double head_params;        /* lm_head (or the tied embedding) */
    double attn_flops_per_ctx; /* flops per token per context position: q.k and p.v */
    double file_params;        /* all parameters */
    double file_bytes;         /* weight bytes of a decode step as the file stores them */
    /* the projections multiply int8 activations by packed weights (the CPU's default for 4 bits
     * where AVX-512 VNNI is there): the float32 GEMM rate is no ceiling for them */
    int int8_products;
} model_costs;

static model_costs model_costs_of(const mlcc_model *m, const char *device) {
    model_costs c = {0};
    c.int8_products = !device && m->quant && m->quant->bits > 0 && schedule_quant_int8_activations(m->quant->bits);
    const mlcc_model_config *cfg = &m->cfg;
    for (int i = 0; i < m->params.n; i++) {
        const model_param *p = &m->params.items[i];
        /* quantized weights: a q_weight + q_scale pair stands for one source tensor, counted once */
        double n = p->role == PARAM_Q_SCALE ? 0 : 1, bytes = (double)mlcc_ndarray_nbytes(m->weights[i]);
        for (int d = 0; d < p->ndim; d++) n *= (double)p->source_shape[d];
        c.file_params += n;
        int embed = !strcmp(p->source, "model.embed_tokens.weight"), head = !strcmp(p->source, "lm_head.weight");
        if (embed && !cfg->tie_embeddings) continue; /* a decode step reads one row of it */
        c.weight_bytes += bytes;
        if (embed || head) c.head_params += n;
        else if (p->ndim == 2) c.matmul_params += n;
    }
    c.kv_bytes_per_pos = 2.0 * (double)cfg->layers * (double)cfg->kv_heads * (double)cfg->head_dim * 4.0; /* float32 pages */
    c.attn_flops_per_ctx = 4.0 * (double)cfg->layers * (double)cfg->heads * (double)cfg->head_dim;
    return c;
}

/* Bytes a decode step would read with the weights as the file stores them (F16, Q4_0, ...):
 * the floor of an engine that computes on the stored format, such as llama.cpp on the same
 * GGUF. 0 when the file cannot be read. */
static double file_weight_bytes(const char *path) {
    double total = 0;
    size_t len = strlen(path);
    if (len > 5 && !strcmp(path + len - 5, ".gguf")) {
        mlcc_gguf *g = mlcc_gguf_open(path);
        if (!g) return 0;
        int untied = mlcc_gguf_find_tensor(g, "output.weight") != NULL;
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const mlcc_gguf_tensor *t = &g->tensors[i];
            if (!(untied && t->name.len == 17 && !memcmp(t->name.data, "token_embd.weight", 17))) total += (double)t->n_bytes;
        }
        mlcc_gguf_close(g);
        return total;
    }
    mlcc_safetensors *st = safetensors_open(path);
    if (!st) return 0;
    int untied = safetensors_find(st, "lm_head.weight") != NULL;
    for (size_t i = 0; i < safetensors_count(st); i++) {
        const mlcc_st_tensor *t = safetensors_at(st, i);
        if (!(untied && !strcmp(t->name, "model.embed_tokens.weight"))) total += (double)t->nbytes;
    }
    safetensors_close(st);
    return total;
}

/* ---- output ---- */

typedef struct floors {
    double bandwidth, gemm;
    const char *gemm_impl;
    double prefill, decode[MLCC_BENCH_MAX_BATCHES];
    double decode_file; /* batch 1, bandwidth over the file's bytes per step */
    const char *decode_bound[MLCC_BENCH_MAX_BATCHES];
} floors;

static void compute_floors(const bench_args *a, const model_costs *c, floors *f) {
    double prefill_flops = 2 * c->matmul_params + c->attn_flops_per_ctx * (a->prompt_len + 1) / 2.0;
    f->prefill = f->gemm / prefill_flops;
    double ctx = a->prompt_len + a->gen_len / 2.0; /* the average context while decoding */
    double decode_flops = 2 * (c->matmul_params + c->head_params) + c->attn_flops_per_ctx * ctx;
    f->decode_file = c->file_bytes > 0 ? f->bandwidth / (c->file_bytes + c->kv_bytes_per_pos * ctx) : 0;
    for (int i = 0; i < a->opt.nbatch; i++) {
        double b = a->opt.batches[i];
        double mem = b * f->bandwidth / (c->weight_bytes + b * c->kv_bytes_per_pos * ctx);
        double compute = c->int8_products ? INFINITY : f->gemm / decode_flops;
        f->decode[i] = mem < compute ? mem : compute;
        f->decode_bound[i] = mem < compute ? "bandwidth" : "compute";
    }
}

/* Peak resident memory in MB: VmHWM, which reset_peak_rss lowers to the current size (so the
 * random-weight writing and the bandwidth buffer, measured before the model, do not count);
 * getrusage's high-water mark where /proc is not there. */
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss; /* kilobytes on Linux */
    }
    return (double)kb / 1024.0;
}

static void reset_peak_rss(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) fputs("5", f), fclose(f);
}

static void print_text(const bench_args *a, const mlcc_bench_result *r, const floors *f, const model_costs *c) {
    printf("model: %s (%.0fM parameters, %.1f MB of weights read per decode step)\n", a->model ? a->model : a->random_config,
           c->file_params / 1e6, c->weight_bytes / 1e6);
    printf("floors: memory read %.1f GB/s; GEMM %.1f GFLOP/s (%s)\n", f->bandwidth / 1e9, f->gemm / 1e9, f->gemm_impl);
    printf("prefill (%d tokens): %.1f tok/s, floor %.1f tok/s (compute), ratio %.2f; TTFT %.1f ms\n", a->prompt_len,
           r->prefill_tok_s, f->prefill, r->prefill_tok_s / f->prefill, r->ttft_ms);
    if (c->int8_products)
        printf("note: the projections multiply int8 activations, faster than the float32 GEMM rate: the prefill "
               "floor above is float32's, and decode's floors are the memory ones\n");
    if (a->prefill_also > 0)
        printf("prefill (%d tokens): %.1f tok/s; TTFT %.1f ms\n", a->prefill_also, a->prefill_also_tok_s, a->prefill_also_ttft_ms);
    if (a->opt.sample)
        printf("decode sampling: temperature %g, top-k %d, top-p %g (seeded)\n", a->opt.sampling.temperature, a->opt.sampling.top_k,
               a->opt.sampling.top_p);
    printf("%6s %12s %12s %10s %6s %11s %11s %12s%s\n", "batch", "decode tok/s", "floor tok/s", "bound", "ratio", "ITL p50 ms",
           "ITL p99 ms", "TTFT p50 ms", "");
    for (int i = 0; i < r->ndecode; i++) {
        const mlcc_bench_decode *d = &r->decode[i];
        printf("%6d %12.2f %12.2f %10s %6.2f %11.2f %11.2f %12.1f%s\n", d->batch, d->tok_s, f->decode[i], f->decode_bound[i],
               d->tok_s / f->decode[i], d->itl_p50_ms, d->itl_p99_ms, d->ttft_p50_ms,
               d->steady ? "" : "  (no steady window: whole-run average)");
    }
    long llc = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (llc > 0 && c->weight_bytes < (double)llc)
        printf("note: the weights (%.1f MB) fit in the last-level cache (%.0f MB), so decode may beat the memory floor\n",
               c->weight_bytes / 1e6, llc / 1e6);
    if (f->decode_file > 0)
        printf("with the weights as the file stores them (%.1f MB per step), the batch-1 decode floor is %.2f tok/s\n",
               c->file_bytes / 1e6, f->decode_file);
    printf("peak host memory: %.1f MB\n", a->peak_mb);
}

static json_t *by_batch(const mlcc_bench_result *r, const double *v) {
    json_t *o = json_object();
    for (int i = 0; i < r->ndecode; i++) {
        char k[16];
        snprintf(k, sizeof k, "%d", r->decode[i].batch);
        json_object_set_new(o, k, json_real(v[i]));
    }
    return o;
}

static void print_json(const bench_args *a, const mlcc_bench_result *r, const floors *f, const model_costs *c) {
    double tok[MLCC_BENCH_MAX_BATCHES], ratio[MLCC_BENCH_MAX_BATCHES], p50[MLCC_BENCH_MAX_BATCHES], p99[MLCC_BENCH_MAX_BATCHES],
        widest[MLCC_BENCH_MAX_BATCHES];
    json_t *bound = json_object(), *steady = json_object(), *batches = json_array();
    for (int i = 0; i < r->ndecode; i++) {
        const mlcc_bench_decode *d = &r->decode[i];
        tok[i] = d->tok_s, ratio[i] = d->tok_s / f->decode[i], p50[i] = d->itl_p50_ms, p99[i] = d->itl_p99_ms;
        widest[i] = d->max_decode_batch;
        char k[16];
        snprintf(k, sizeof k, "%d", d->batch);
        json_object_set_new(bound, k, json_string(f->decode_bound[i]));
        json_object_set_new(steady, k, json_boolean(d->steady));
        json_array_append_new(batches, json_integer(d->batch));
    }
    const mlcc_bench_decode *first = &r->decode[0];
    json_t *o = json_pack("{s:s,s:s,s:i,s:i,s:i,s:o,s:f,s:o,s:f,s:o,s:f,s:o,s:o,s:f,s:f,s:f,s:f,s:o,s:o,s:f,s:n,s:f,s:f,s:s,s:f,s:f,s:f}",
                          "model", a->model ? a->model : a->random_config, "device", a->device ? a->device : "cpu", "threads", mlcc_threadpool_size(),
                          "prompt_len", a->prompt_len, "gen_len", a->gen_len, "batches", batches,
                          "prefill_tok_s", r->prefill_tok_s, "decode_tok_s", by_batch(r, tok),
                          "floor_decode_tok_s", f->decode[0], "floor_decode_tok_s_by_batch", by_batch(r, f->decode),
                          "floor_prefill_tok_s", f->prefill, "decode_ratio", by_batch(r, ratio), "decode_bound", bound,
                          "prefill_ratio", r->prefill_tok_s / f->prefill, "ttft_ms", r->ttft_ms,
                          "itl_p50_ms", first->itl_p50_ms, "itl_p99_ms", first->itl_p99_ms,
                          "itl_p50_ms_by_batch", by_batch(r, p50), "itl_p99_ms_by_batch", by_batch(r, p99),
                          "peak_rss_mb", a->peak_mb, "peak_device_mb", "bandwidth_gb_s", f->bandwidth / 1e9,
                          "gemm_gflop_s", f->gemm / 1e9, "gemm_impl", f->gemm_impl, "weight_mb_per_step", c->weight_bytes / 1e6,
                          "kv_kb_per_token", c->kv_bytes_per_pos / 1e3, "params_m", c->file_params / 1e6);
    json_object_set_new(o, "decode_steady", steady);
    json_object_set_new(o, "max_decode_batch", by_batch(r, widest)); /* the widest decode step so far (a check that b ran together) */
    json_object_set_new(o, "file_weight_mb_per_step", json_real(c->file_bytes / 1e6));
    json_object_set_new(o, "floor_buffer_mb", json_integer(a->floor_mb));
    if (a->prefill_also > 0) {
        json_object_set_new(o, "prefill_also_len", json_integer(a->prefill_also));
        json_object_set_new(o, "prefill_also_tok_s", json_real(a->prefill_also_tok_s));
        json_object_set_new(o, "prefill_also_ttft_ms", json_real(a->prefill_also_ttft_ms));
    }
    json_object_set_new(o, "floor_decode_file_tok_s", json_real(f->decode_file));
    char *text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    printf("%s\n", text);
    free(text);
    json_decref(o);
}

/* ---- the run ---- */

static void progress_line(const char *line) {
    fprintf(stderr, "[mlcc bench] %s\n", line);
}

/* A small --floor-mb (tests) also shrinks the GEMM; the figures are then only smoke. */
static void measure_floors(const bench_args *a, floors *f) {
    if (a->device && !strncmp(a->device, "vulkan", 6)) { /* a shader's copy rate and the GEMM the prefill uses */
        int id = a->device[6] == ':' ? atoi(a->device + 7) : 0;
        double bw = mlcc_vulkan_copy_bandwidth(id, (size_t)a->floor_mb << 21, 5);
        if (bw > f->bandwidth) f->bandwidth = bw;
        double g = mlcc_vulkan_gemm_f16_rate(id, a->floor_mb >= 64 ? 4096 : 256, 3);
        if (g > f->gemm) f->gemm = g;
        f->gemm_impl = "mlcc.vulkan.linear_f16 tiled GEMM, float32 SIMT";
        return;
    }
    if (a->device) { /* the GPU's: its copy rate and the f16 tensor-core GEMM the prefill uses */
        int id = a->device[4] == ':' ? atoi(a->device + 5) : 0;
        double bw = mlcc_cuda_copy_bandwidth(id, (size_t)a->floor_mb << 21, 5);
        if (bw > f->bandwidth) f->bandwidth = bw;
        double g = mlcc_cuda_gemm_f16_rate(id, a->floor_mb >= 64 ? 8192 : 512, 3);
        if (g > f->gemm) f->gemm = g;
        f->gemm_impl = "cuBLASLt f16, f32 accumulation";
        return;
    }
    double bw = mlcc_bench_read_bandwidth((size_t)a->floor_mb << 20, 5);
    if (bw > f->bandwidth) f->bandwidth = bw;
    double g = mlcc_bench_gemm_rate(a->floor_mb >= 64 ? 1024 : 256, 3, &f->gemm_impl);
    if (g > f->gemm) f->gemm = g;
}

/* The CPU floors run parallel loops, whose OpenMP team belongs to the calling thread. Left on
 * the main thread, that team's idle workers would count beside the engine thread's team:
 * libgomp, seeing more threads than CPUs, then stops spinning between kernels and a 2-core Q4_0
 * decode dropped from ~38 to ~25 tok/s. So the team ends with the measurement (as a model's
 * loader ends its own: runtime/threadpool.h). */
static void measure_floors_and_release(const bench_args *a, floors *f) {
    measure_floors(a, f);
    mlcc_threadpool_release_team();
}

/* temporary: the random-weight folder, removed once loaded (so an interrupted run leaves
 * nothing behind); NULL for a user's model */
static int run_bench(bench_args *a, const char *path, const char *temporary) {
    mlcc_bench_options *o = &a->opt;
    floors f = {0};
    reset_peak_rss(); /* the writing of random weights does not count */
    int maxb = max_batch(o);
    int64_t need = (int64_t)a->prompt_len + a->gen_len + 1;
    if (a->prefill_also + 2 > need) need = a->prefill_also + 2;
    int64_t chunk = (int64_t)a->prompt_len * maxb;
    if (chunk > 2048) chunk = a->prompt_len > 2048 ? a->prompt_len : 2048; /* several prompts per prefill step, up to 2048 tokens */
    if (a->prefill_also > chunk) chunk = a->prefill_also; /* its prompt in one step, as --prompt-len's */
    /* room for the tokens decode requests generate while later prompts prefill (bench.h): one
     * per prefill step, with the chunk as the model will bound it (by its context window) */
    int64_t bounded = chunk < seq_bound(need) ? chunk : seq_bound(need);
    int64_t want = need + ((int64_t)a->prompt_len * maxb + bounded - 1) / bounded;
    mlcc_model_options mo = {.max_seq = seq_bound(want), .prefill_chunk = chunk, .max_batch = maxb, .device = a->device,
                             .quantization = a->quantization};
    progress_line("preparing the model library (compiled on first use, then cached)");
    mlcc_model *m = mlcc_model_open(path, &mo);
    if (!m) return -1;
    int rc = -1;
    mlcc_model_runner runner;
    mlcc_tokenizer *tok = NULL;
    mlcc_engine *e = NULL;
    if (m->max_seq < need) {
        mlcc_set_error("prompt %d + generation %d tokens exceed the model's context window %lld", a->prompt_len, a->gen_len,
                       (long long)m->max_seq);
        mlcc_model_free(m);
        return -1;
    }
    if (want > m->max_seq) want = m->max_seq;
    if (mlcc_model_runner_init(&runner, m, (int64_t)maxb * (want + m->bounds.page_size))) {
        mlcc_model_free(m);
        return -1;
    }
    double file_bytes = file_weight_bytes(path);
    tok = mlcc_tokenizer_load(path);
    if (!tok) tok = synthetic_vocab_tokenizer(m->cfg.vocab); /* no tokenizer: ids are all the bench needs */
    if (temporary) mlcc_remove_tree_quietly(temporary); /* an error of the tokenizer stays the one reported */
    if (tok) e = mlcc_engine_new(&runner, tok, m->cfg.eos_ids, m->cfg.n_eos);
    if (e) {
        double load_peak = peak_rss_mb();
        progress_line("measuring memory bandwidth and GEMM rate");
        measure_floors_and_release(a, &f);
        reset_peak_rss(); /* nor does the bandwidth buffer */
        o->prompt_len = a->prompt_len, o->gen_len = a->gen_len, o->repeat = a->repeat, o->seed = a->seed ^ 0x5eed;
        o->vocab = (int)m->cfg.vocab;
        o->prefill_chunk = (int)m->bounds.prefill_chunk, o->context = (int)want;
        mlcc_bench_result r;
        /* (mlcc_bench_run warms up: a prefill before the measured ones, and each batch size's
         * decode for a few steps at the measured prompt length, so a GPU's first launches, NVRTC
         * or glslang compiles and CUDA graph captures stay out of the figures) */
        rc = mlcc_bench_run(e, o, &r, progress_line);
        if (rc == 0 && a->prefill_also > 0) { /* the model loads once for both prompt lengths */
            mlcc_bench_options po = *o;
            mlcc_bench_result pr;
            po.prompt_len = a->prefill_also, po.nbatch = 0;
            rc = mlcc_bench_run(e, &po, &pr, progress_line);
            a->prefill_also_tok_s = pr.prefill_tok_s, a->prefill_also_ttft_ms = pr.ttft_ms;
        }
        a->peak_mb = peak_rss_mb(); /* before the second bandwidth buffer */
        if (load_peak > a->peak_mb) a->peak_mb = load_peak;
        if (rc == 0) {
            progress_line("measuring memory bandwidth and GEMM rate again (the best of both runs counts)");
            measure_floors_and_release(a, &f);
            model_costs c = model_costs_of(m, a->device);
            c.file_bytes = file_bytes;
            compute_floors(a, &c, &f);
            print_text(a, &r, &f, &c);
            if (a->json) print_json(a, &r, &f, &c);
        }
    }
    mlcc_engine_free(e);
    mlcc_tokenizer_free(tok);
    mlcc_model_runner_free(&runner);
    mlcc_model_free(m);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "serve")) return cmd_bench_serve(argc - 1, argv + 1);
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    bench_args a;
    if (argc < 2 || parse_args(argc, argv, &a)) {
        if (argc >= 2) fprintf(stderr, "mlcc bench: %s\n", mlcc_last_error());
        usage(stderr);
        return 2;
    }
    if (a.threads > 0) { /* the generated kernels' OpenMP teams read MLCC_NUM_THREADS */
        char n[16];
        snprintf(n, sizeof n, "%d", a.threads);
        setenv("MLCC_NUM_THREADS", n, 1);
    }
    if (a.threads > 0 && mlcc_threadpool_set_size(a.threads) != 0) {
        fprintf(stderr, "mlcc bench: --threads %d: %s\n", a.threads, mlcc_last_error());
        return 2;
    }
    char *path = NULL;
    if (a.random_config) {
        progress_line("writing the random-weight model");
        path = write_random_folder(&a);
    } else {
        path = mlcc_hub_resolve(a.model);
    }
    if (!path) {
        fprintf(stderr, "mlcc bench: %s\n", mlcc_last_error());
        return 1;
    }
    int rc = run_bench(&a, path, a.random_config ? path : NULL);
    if (rc) fprintf(stderr, "mlcc bench: %s\n", mlcc_last_error());
    if (a.random_config) mlcc_remove_tree(path);
    free(path);
    return rc ? 1 : 0;
}
