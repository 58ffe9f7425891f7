/* test_cuda_sample_topp.c - sampling on the GPU (runtime/cuda_sample_topp.c) against the host
 * sampler (engine/sampler.c) given the same uniforms:
 *   - the kernel compiles with NVRTC for sm_90 (CPU CI; without a GPU the test stops there);
 *   - random rows at vocabularies 1000, 1023, 32001 and 128256 (not multiples of the block),
 *     every combination of temperature 0.7/1/1.3, top-k 0/1/40/beyond the vocabulary, top-p
 *     0.5/0.9/1 and min-p 0/0.05, a third of them with repetition / presence / frequency
 *     penalties over repeated tokens and logit bias (one id biased twice), rows of Gaussian
 *     logits at several scales, rows with many ties (values on a 0.5 grid), nearly flat rows:
 *     the same token as mlcc_sample_with_uniform, the same "drew", the log probability within
 *     1e-4. A different token is accepted only where the host gives the GPU's token once the
 *     uniform or top_p moves by 1e-5 relative (float32 weights vs the host's double: a
 *     cumulative sum within rounding of the target), at most 1 in 100 rows; each is printed;
 *   - edge rows: all -inf but one, all -inf (no draw: the arg-max, "drew" 0), NaN entries,
 *     temperature 0 with penalties (the arg-max of the processed row);
 *   - the draw's distribution: 40000 copies of one 16-token row (temperature 0.8, top-k 12,
 *     top-p 0.95) with independent uniforms; tokens outside the kept set never come, and the
 *     counts pass a chi-square test against the exact probabilities at p = 1e-4 (the
 *     threshold from the Wilson-Hilferty approximation);
 *   - the engine end to end on the GPU, on the hf-tiny llama (512 ids) and on tm-llama3 (Llama
 *     3's 128256 ids, nearly flat logits: top-p takes the whole-row path): seeded requests (temperature,
 *     top-k/top-p, min-p, penalties, bias) give the same text with GPU sampling on and off
 *     (MLCC_GPU_SAMPLING=0), and again when all run in one batch on the GPU;
 *   - the time of one call for 64 rows of 128256 (printed: no timing assertion). */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine.h"
#include "engine/sampler.h"
#include "models/model.h"
#include "models/runner.h"
#include "runtime/cuda.h"
#include "runtime/cuda_sample_topp.h"
#include "support/error.h"
#include "support/strbuf.h"
#include "tensor_util.h"
#include "engine_collect.h"
#include "test.h"

static uint64_t rng_state = 12345;
static double urand(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * (1.0 / 9007199254740992.0);
}
static double gauss(void) {
    return sqrt(-2 * log(urand() + 1e-300)) * cos(6.283185307179586 * urand());
}

/* One row's case: parameters, penalties as prompt/output tokens, bias. */
typedef struct row_case {
    mlcc_sampling_params p;
    int32_t prompt[40], output[40], bias_ids[4];
    float bias_values[4];
    size_t nprompt, noutput;
    int32_t pen_ids[80], pen_counts[80];
    int npen;
    double u;
} row_case;

static void fill_row(float *row, int64_t vocab, int kind) {
    double scale = 0.5 + 4 * urand();
    for (int64_t i = 0; i < vocab; i++) row[i] = (float)(gauss() * scale);
    if (kind == 1) /* many ties */
        for (int64_t i = 0; i < vocab; i++) row[i] = floorf(row[i] * 2) / 2;
    if (kind == 2) /* nearly flat */
        for (int64_t i = 0; i < vocab; i++) row[i] = (float)(gauss() * 0.01);
}

static void with_penalties(row_case *c, int64_t vocab) {
    c->p.repetition_penalty = 1.3f, c->p.presence_penalty = 0.5f, c->p.frequency_penalty = 0.4f;
    for (int i = 0; i < 30; i++) c->prompt[c->nprompt++] = (int32_t)(urand() * (double)vocab);
    for (int i = 0; i < 24; i++) c->output[c->noutput++] = (int32_t)(urand() * (double)(vocab < 12 ? vocab : 12)); /* repeats */
    for (int i = 0; i < 3; i++) c->bias_ids[i] = (int32_t)(urand() * (double)vocab), c->bias_values[i] = (float)(4 * gauss());
    c->bias_ids[3] = c->bias_ids[0], c->bias_values[3] = 2.5f; /* one id biased twice */
    c->p.bias_ids = c->bias_ids, c->p.bias_values = c->bias_values, c->p.nbias = 4;
}

static mlcc_cuda_sample_row device_row(row_case *c, int64_t vocab) {
    c->npen = (int)mlcc_penalty_counts(&c->p, (int)vocab, c->prompt, c->nprompt, c->output, c->noutput, c->pen_ids, c->pen_counts);
    const mlcc_sampling_params *p = &c->p;
    return (mlcc_cuda_sample_row){p->temperature,       p->top_p,          p->min_p,    p->repetition_penalty,
                                  p->presence_penalty,  p->frequency_penalty, p->top_k, p->bias_ids,
                                  p->bias_values,       p->nbias,          c->pen_ids,  c->pen_counts,
                                  c->npen,              c->u};
}

/* The host's token for row with c's parameters and a uniform. */
static int32_t host_token(mlcc_sampler *s, const float *row, int64_t vocab, const row_case *c, const mlcc_sampling_params *p,
                          double u, int *drew, double *lp) {
    float *copy = malloc(sizeof(float) * (size_t)vocab);
    memcpy(copy, row, sizeof(float) * (size_t)vocab);
    int32_t t = mlcc_sample_with_uniform(s, copy, (int)vocab, p, c->prompt, c->nprompt, c->output, c->noutput, u, drew, lp);
    free(copy);
    return t;
}

/* Whether the host gives `token` once u or top_p moves by 1e-5 relative: a cut within rounding. */
static int near_boundary(mlcc_sampler *s, const float *row, int64_t vocab, const row_case *c, int32_t token) {
    for (int a = -1; a <= 1; a++)
        for (int b = -1; b <= 1; b++) {
            mlcc_sampling_params p = c->p;
            double u = c->u * (1 + a * 1e-5);
            if (u >= 1) u = nextafter(1.0, 0.0);
            if (p.top_p < 1) p.top_p = fminf(1.0f, p.top_p * (float)(1 + b * 1e-5));
            int drew;
            double lp;
            if (host_token(s, row, vocab, c, &p, u, &drew, &lp) == token) return 1;
        }
    return 0;
}

/* Uploads rows, samples them on the GPU; the rows on the device are overwritten. */
static int gpu_sample(const float *rows, int64_t n, int64_t vocab, const mlcc_cuda_sample_row *dr, int32_t *ids, double *lps,
                      int *drew, double *seconds) {
    size_t bytes = sizeof(float) * (size_t)(n * vocab);
    MLCCNDArray *d = mlcc_ndarray_empty(1, (int64_t[]){n * vocab}, MLCC_DTYPE_F32, (DLDevice){kDLCUDA, 0});
    if (!d || mlcc_ndarray_copy_from_bytes(d, rows, bytes)) return -1;
    mlcc_cuda_synchronize(0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = mlcc_cuda_sample(0, d->dl.data, n, vocab, dr, ids, lps, drew);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (seconds) *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    mlcc_ndarray_release(d);
    return rc;
}

static const float temps[] = {0.7f, 1.0f, 1.3f};
static const int topks[] = {0, 1, 40, 1 << 20};
static const float topps[] = {0.5f, 0.9f, 1.0f};
static const float minps[] = {0.0f, 0.05f};

/* Every parameter combination on its own random row (72 rows, one launch). */
static void check_grid(int64_t vocab) {
    enum { N = 3 * 4 * 3 * 2 };
    float *rows = malloc(sizeof(float) * (size_t)(N * vocab));
    row_case *cases = calloc(N, sizeof(row_case));
    mlcc_cuda_sample_row dr[N];
    int k = 0;
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++)
            for (int c = 0; c < 3; c++)
                for (int d = 0; d < 2; d++, k++) {
                    row_case *rc = &cases[k];
                    rc->p = mlcc_sampling_defaults();
                    rc->p.temperature = temps[a], rc->p.top_k = topks[b], rc->p.top_p = topps[c], rc->p.min_p = minps[d];
                    if (k % 3 == 0) with_penalties(rc, vocab);
                    rc->u = urand();
                    fill_row(rows + (size_t)k * (size_t)vocab, vocab, k % 5 == 1 ? 1 : k % 5 == 3 ? 2 : 0);
                    dr[k] = device_row(rc, vocab);
                }
    int32_t ids[N];
    double lps[N];
    int drew[N];
    int rc = gpu_sample(rows, N, vocab, dr, ids, lps, drew, NULL);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    mlcc_sampler *s = mlcc_sampler_new(0);
    int bad = 0, boundary = 0;
    double worst = 0;
    for (int i = 0; rc == 0 && i < N; i++) {
        const float *row = rows + (size_t)i * (size_t)vocab;
        int hdrew;
        double hlp;
        int32_t want = host_token(s, row, vocab, &cases[i], &cases[i].p, cases[i].u, &hdrew, &hlp);
        const mlcc_sampling_params *p = &cases[i].p;
        if (ids[i] != want) {
            int near = near_boundary(s, row, vocab, &cases[i], ids[i]);
            printf("vocab %lld row %d (T %g top_k %d top_p %g min_p %g, %d penalty ids): cuda %d, host %d, u %.17g%s\n",
                   (long long)vocab, i, p->temperature, p->top_k, p->top_p, p->min_p, cases[i].npen, ids[i], want, cases[i].u,
                   near ? " (within 1e-5 of a cut)" : "");
            if (near) boundary++;
            else bad++;
        }
        CHECK_MSG(drew[i] == hdrew, "vocab %lld row %d: drew %d, host %d", (long long)vocab, i, drew[i], hdrew);
        double e = fabs(lps[i] - hlp);
        if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(bad == 0, "vocab %lld: %d rows chose another token", (long long)vocab, bad);
    CHECK_MSG(boundary * 100 <= N, "vocab %lld: %d rows differ at a cut", (long long)vocab, boundary);
    CHECK_MSG(worst <= 1e-4, "vocab %lld: log probability off by %g", (long long)vocab, worst);
    printf("vocab %lld: %d parameter sets, %d tokens differ at a cut, logprob error %.3g\n", (long long)vocab, N, boundary, worst);
    mlcc_sampler_free(s);
    free(rows), free(cases);
}

/* Rows the filters must treat exactly: a single candidate, none, NaN, greedy with penalties. */
static void check_edges(void) {
    enum { N = 6 };
    const int64_t vocab = 1000;
    float *rows = malloc(sizeof(float) * (size_t)(N * vocab));
    row_case cases[N];
    memset(cases, 0, sizeof cases);
    mlcc_cuda_sample_row dr[N];
    for (int i = 0; i < N; i++) {
        float *row = rows + (size_t)i * (size_t)vocab;
        fill_row(row, vocab, 0);
        cases[i].p = mlcc_sampling_defaults();
        cases[i].u = urand();
        switch (i) {
        case 0: for (int64_t v = 0; v < vocab; v++) row[v] = -INFINITY; row[777] = 3; break;              /* one candidate */
        case 1: for (int64_t v = 0; v < vocab; v++) row[v] = -INFINITY; break;                            /* none: token 0 */
        case 2: row[0] = NAN, row[10] = NAN, cases[i].p.top_k = 40, cases[i].p.top_p = 0.9f; break;       /* NaN is no candidate */
        case 3: row[5] = NAN, cases[i].p.temperature = 0, with_penalties(&cases[i], vocab); break;        /* greedy, processed */
        case 4: for (int64_t v = 0; v < vocab; v += 2) row[v] = -INFINITY; cases[i].p.top_k = 5000; break; /* top-k > vocab */
        default: cases[i].p.top_k = 1, with_penalties(&cases[i], vocab); break;                           /* top_k 1: arg-max */
        }
        dr[i] = device_row(&cases[i], vocab);
    }
    int32_t ids[N];
    double lps[N];
    int drew[N];
    int rc = gpu_sample(rows, N, vocab, dr, ids, lps, drew, NULL);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    mlcc_sampler *s = mlcc_sampler_new(0);
    for (int i = 0; rc == 0 && i < N; i++) {
        int hdrew;
        double hlp;
        int32_t want = host_token(s, rows + (size_t)i * (size_t)vocab, vocab, &cases[i], &cases[i].p, cases[i].u, &hdrew, &hlp);
        CHECK_MSG(ids[i] == want && drew[i] == hdrew, "edge row %d: cuda %d (drew %d), host %d (drew %d)", i, ids[i], drew[i], want,
                  hdrew);
        if (!isnan(hlp) && !isinf(hlp)) CHECK_MSG(fabs(lps[i] - hlp) <= 1e-4, "edge row %d: logprob %g, host %g", i, lps[i], hlp);
    }
    CHECK_EQ_INT(rc == 0 ? ids[0] : -1, 777);
    CHECK_EQ_INT(rc == 0 ? ids[1] : -1, 0);
    CHECK_EQ_INT(rc == 0 ? drew[1] : -1, 0);
    mlcc_sampler_free(s);
    free(rows);
}

/* The draw's distribution on a small vocabulary against the exact probabilities. */
static void check_distribution(void) {
    enum { V = 16, N = 40000, K = 12 };
    const float T = 0.8f, P = 0.95f;
    float base[V];
    for (int v = 0; v < V; v++) base[v] = (float)(gauss() * 1.5);
    /* the exact kept set and probabilities, in double: sort, top-k, top-p */
    int order[V];
    for (int v = 0; v < V; v++) order[v] = v;
    for (int a = 0; a < V; a++)
        for (int b = a + 1; b < V; b++)
            if (base[order[b]] > base[order[a]]) {
                int t = order[a];
                order[a] = order[b], order[b] = t;
            }
    double w[V], total = 0, prob[V] = {0};
    for (int i = 0; i < K; i++) total += w[i] = exp((base[order[i]] - base[order[0]]) / (double)T);
    int keep = K;
    double cum = 0;
    for (int i = 0; i < K; i++)
        if ((cum += w[i] / total) >= P) {
            keep = i + 1;
            break;
        }
    double mass = 0;
    for (int i = 0; i < keep; i++) mass += w[i];
    for (int i = 0; i < keep; i++) prob[order[i]] = w[i] / mass;

    float *rows = malloc(sizeof(float) * V * N);
    mlcc_cuda_sample_row *dr = calloc(N, sizeof *dr);
    for (int r = 0; r < N; r++) {
        memcpy(rows + (size_t)r * V, base, sizeof base);
        dr[r] = (mlcc_cuda_sample_row){.temperature = T, .top_p = P, .top_k = K, .repetition_penalty = 1, .uniform = urand()};
    }
    int32_t *ids = malloc(sizeof(int32_t) * N);
    double *lps = malloc(sizeof(double) * N);
    int *drew = malloc(sizeof(int) * N);
    int rc = gpu_sample(rows, N, V, dr, ids, lps, drew, NULL);
    CHECK_MSG(rc == 0, "%s", mlcc_last_error());
    long counts[V] = {0};
    int outside = 0;
    for (int r = 0; rc == 0 && r < N; r++) {
        if (ids[r] < 0 || ids[r] >= V || prob[ids[r]] == 0) outside++;
        else counts[ids[r]]++;
    }
    double chi2 = 0;
    for (int v = 0; v < V; v++)
        if (prob[v] > 0) chi2 += (counts[v] - N * prob[v]) * (counts[v] - N * prob[v]) / (N * prob[v]);
    int df = keep - 1;
    double z = 3.719, h = 2.0 / (9.0 * df), crit = df * pow(1 - h + z * sqrt(h), 3); /* chi-square quantile at 1 - 1e-4 */
    CHECK_MSG(outside == 0, "%d draws outside the kept set", outside);
    CHECK_MSG(chi2 <= crit, "chi-square %.2f over %d degrees of freedom exceeds %.2f", chi2, df, crit);
    printf("distribution: %d tokens kept of %d, chi-square %.2f (df %d, threshold %.2f at p=1e-4)\n", keep, V, chi2, df, crit);
    free(rows), free(dr), free(ids), free(lps), free(drew);
}

/* 64 rows of the Llama-3 vocabulary: one call's wall time (upload, kernel, 12 bytes a row back). */
static void time_batch(void) {
    enum { N = 64 };
    const int64_t vocab = 128256;
    float *rows = malloc(sizeof(float) * (size_t)(N * vocab));
    for (int i = 0; i < N; i++) fill_row(rows + (size_t)i * (size_t)vocab, vocab, 0);
    const struct {
        const char *name;
        float t, p, minp;
        int k, pen;
    } sets[] = {{"temperature 1, no filter", 1, 1, 0, 0, 0},
                {"temperature 0.7, top-k 40, top-p 0.9", 0.7f, 0.9f, 0, 40, 0},
                {"temperature 0.7, top-p 0.9", 0.7f, 0.9f, 0, 0, 0},
                {"temperature 1, min-p 0.05", 1, 1, 0.05f, 0, 0},
                {"top-k 40, top-p 0.9, penalties and bias", 0.7f, 0.9f, 0, 40, 1}};
    row_case *cases = calloc(N, sizeof(row_case));
    mlcc_cuda_sample_row dr[N];
    int32_t ids[N];
    double lps[N];
    int drew[N];
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        for (int i = 0; i < N; i++) {
            memset(&cases[i], 0, sizeof cases[i]);
            cases[i].p = mlcc_sampling_defaults();
            cases[i].p.temperature = sets[k].t, cases[i].p.top_p = sets[k].p, cases[i].p.min_p = sets[k].minp;
            cases[i].p.top_k = sets[k].k;
            if (sets[k].pen) with_penalties(&cases[i], vocab);
            cases[i].u = urand();
            dr[i] = device_row(&cases[i], vocab);
        }
        double best = 1e9, t;
        for (int rep = 0; rep < 4; rep++)
            if (gpu_sample(rows, N, vocab, dr, ids, lps, drew, &t) == 0 && rep > 0 && t < best) best = t;
        printf("64 x 128256, %s: %.3f ms a call\n", sets[k].name, best * 1e3);
    }
    free(rows), free(cases);
}

/* ---- the engine end to end ---- */

static void collect(void *ctx, const char *text, size_t len) {
    sb_append_n((mlcc_strbuf *)ctx, text, len);
}

/* model: a fixture folder; the tokenizer is tm-llama3's (Llama 3's), which decodes any id below
 * 128256 (hf-tiny's llama has 512 ids and no tokenizer of its own). */
static void check_engine(const char *model) {
    char *dir = test_data_path(model), *tok_path = test_data_path("models/tm-llama3/tokenizer.json");
    /* a model each (its decode graphs belong to one KV cache) */
    mlcc_model_options mo = {.max_seq = 128, .max_batch = 8, .prefill_chunk = 64, .device = "cuda"};
    mlcc_model *m = mlcc_model_open(dir, &mo), *m_off = m ? mlcc_model_open(dir, &mo) : NULL;
    CHECK_MSG(m && m_off, "%s: %s", model, mlcc_last_error());
    mlcc_tokenizer *tok = m_off ? mlcc_tokenizer_load(tok_path) : NULL;
    CHECK_MSG(!m_off || tok != NULL, "%s", mlcc_last_error());
    free(dir);
    free(tok_path);
    if (!m_off || !tok) {
        mlcc_model_free(m);
        mlcc_model_free(m_off);
        return;
    }
    mlcc_model_runner on, off;
    unsetenv("MLCC_GPU_SAMPLING");
    int ok = mlcc_model_runner_init(&on, m, 0) == 0;
    setenv("MLCC_GPU_SAMPLING", "0", 1);
    ok = ok && mlcc_model_runner_init(&off, m_off, 0) == 0;
    unsetenv("MLCC_GPU_SAMPLING");
    CHECK_MSG(ok, "%s", mlcc_last_error());
    if (!ok) return;
    CHECK(on.step_sample != NULL && off.step_sample == NULL);
    mlcc_engine *e_on = mlcc_engine_new(&on, tok, m->cfg.eos_ids, m->cfg.n_eos);
    mlcc_engine *e_off = mlcc_engine_new(&off, tok, m->cfg.eos_ids, m->cfg.n_eos);
    int32_t bias_ids[] = {5, 17};
    float bias_values[] = {3, -2};
    int32_t prompt[12];
    for (int i = 0; i < 12; i++) prompt[i] = 1 + (i * 37) % ((int)m->cfg.vocab - 1);
    enum { NCFG = 5 };
    mlcc_gen_config cfgs[NCFG];
    char *alone[NCFG];
    for (int k = 0; k < NCFG; k++) {
        mlcc_gen_config cfg = mlcc_gen_defaults();
        cfg.seed = 7 + (uint64_t)k, cfg.has_seed = 1, cfg.max_tokens = 24, cfg.ignore_eos = 1;
        mlcc_sampling_params *p = &cfg.sampling;
        if (k == 1) p->temperature = 0.8f, p->top_k = 40, p->top_p = 0.95f;
        if (k == 2) p->min_p = 0.05f, p->repetition_penalty = 1.2f;
        if (k == 3) p->temperature = 1.2f, p->presence_penalty = 0.6f, p->frequency_penalty = 0.4f, p->bias_ids = bias_ids,
            p->bias_values = bias_values, p->nbias = 2;
        if (k == 4) p->top_p = 0.7f;
        mlcc_strbuf a = STRBUF_INIT, b = STRBUF_INIT;
        mlcc_gen_result ra, rb;
        CHECK_EQ_INT(mlcc_engine_generate(e_off, prompt, 12, &cfg, collect, &a, &ra), 0);
        CHECK_EQ_INT(mlcc_engine_generate(e_on, prompt, 12, &cfg, collect, &b, &rb), 0);
        CHECK_MSG(!strcmp(sb_cstr(&a), sb_cstr(&b)), "config %d: GPU sampling off '%s', on '%s'", k, sb_cstr(&a), sb_cstr(&b));
        CHECK_EQ_INT(ra.completion_tokens, rb.completion_tokens);
        cfgs[k] = cfg, alone[k] = sb_detach(&a);
        sb_free(&b);
        mlcc_engine_reset(e_on);
    }
    /* all at once: one step samples rows of different parameters (bias pointers stay valid) */
    test_request_out outs[NCFG];
    memset(outs, 0, sizeof outs);
    mlcc_engine_hold(e_on, 1);
    for (int k = 0; k < NCFG; k++) CHECK(mlcc_engine_submit(e_on, prompt, 12, &cfgs[k], test_collect_event, &outs[k]) > 0);
    mlcc_engine_hold(e_on, 0);
    test_wait_requests(outs, NCFG);
    for (int k = 0; k < NCFG; k++) {
        CHECK_MSG(!strcmp(sb_cstr(&outs[k].text), alone[k]), "config %d batched on the GPU: '%s', alone on the host: '%s'", k,
                  sb_cstr(&outs[k].text), alone[k]);
        sb_free(&outs[k].text);
        free(alone[k]);
    }
    printf("engine, %s: %d seeded sampling configurations give the same text with GPU sampling on and off, alone and batched\n",
           model, NCFG);
    mlcc_engine_free(e_on);
    mlcc_engine_free(e_off);
    mlcc_model_runner_free(&on);
    mlcc_model_runner_free(&off);
    mlcc_tokenizer_free(tok);
    mlcc_model_free(m);
    mlcc_model_free(m_off);
}

int main(void) {
    if (!mlcc_nvrtc_available()) TEST_SKIP("%s", mlcc_nvrtc_status());
    char *ptx = NULL;
    CHECK_MSG(mlcc_nvrtc_compile_ptx(mlcc_cuda_sample_topp_kernel_source(), 90, &ptx) == 0, "%s", mlcc_last_error());
    CHECK(ptx && strstr(ptx, ".entry mlcc_sample_rows") != NULL);
    free(ptx);
    if (!mlcc_cuda_available()) {
        if (test_checks_failed) return test_finish();
        TEST_SKIP("%s (the kernel compiled)", mlcc_cuda_status());
    }
    check_edges();
    check_grid(1000);
    check_grid(1023);
    check_grid(32001);
    check_grid(128256);
    check_distribution();
    check_engine("hf-tiny/llama");
    check_engine("models/tm-llama3");
    time_batch();
    CHECK_EQ_INT(mlcc_cuda_synchronize(0), 0);
    return test_finish();
}
