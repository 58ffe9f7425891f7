/* test_random_configs.c - every architecture on 3 seeded random configs (head_dim 12 / 20 / 40,
 * vocabularies that are not multiples of 8, odd FFN sizes, GQA groups 1 / 2 / 4, small sliding
 * windows, biases, tied and untied heads, rope scaling; the classic `rope_theta` +
 * `rope_scaling` form of config.json and the newer `rope_parameters` form in turn), written as
 * Hugging Face folders (config.json + F32 model.safetensors) and run through mlcc_model_open:
 *   - prefill logits of every row of prompts of 1, 17, 33 and 300 random tokens within 1e-4 of
 *     the float64 reference transformer (ref_forward.c), relative to max |reference logit|;
 *   - the decode path (KV cache, one token at a time) gives the same logits as prefill, row by
 *     row, within the same tolerance, and so does the KV cache fed chunks of 1 to 64 tokens
 *     (and, after popping the last 20 tokens, fed them again).
 * MLCC_TEST_ARCH=name runs one architecture; MLCC_TEST_SEED=n changes the seeds (printed with
 * each config, so a failure can be replayed). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "loader/safetensors.h"
#include "models/model.h"
#include "ref_forward.h"
#include "support/error.h"
#include "test.h"

enum { MAX_SEQ = 300, NUM_CONFIGS = 3 };

static const double TOLERANCE = 1e-4;
static const int PROMPT_LENGTHS[] = {1, 17, 33, 300};

/* ---- a seeded generator (splitmix64) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *g) {
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int rng_below(rng *g, int n) {
    return (int)(rng_next(g) % (uint64_t)n);
}

/* uniform in [-1, 1) */
static double rng_sym(rng *g) {
    return (double)(rng_next(g) >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* ---- architectures and their random configs ---- */

typedef struct arch_case {
    const char *model_type, *class_name;
    ref_arch arch;
} arch_case;

static const arch_case ARCHS[] = {
    {"llama", "LlamaForCausalLM", REF_LLAMA},   {"mistral", "MistralForCausalLM", REF_MISTRAL},
    {"qwen2", "Qwen2ForCausalLM", REF_QWEN2},   {"qwen3", "Qwen3ForCausalLM", REF_QWEN3},
    {"phi3", "Phi3ForCausalLM", REF_PHI3},      {"gemma", "GemmaForCausalLM", REF_GEMMA},
    {"gemma2", "Gemma2ForCausalLM", REF_GEMMA2},
};

typedef struct model_case {
    char label[96];
    ref_config ref; /* what transformers makes of config */
    json_t *config; /* config.json */
} model_case;

/* Rope scaling of the config in either form: classic (top-level rope_theta, rope_scaling with
 * "rope_type" or the older "type") or rope_parameters (rope_theta inside). */
static void set_rope(json_t *j, const ref_config *c, int new_form, int old_type_key) {
    const char *type = c->rope == REF_ROPE_LLAMA3 ? "llama3" : c->rope == REF_ROPE_LINEAR ? "linear" : "default";
    json_t *r = json_object();
    json_object_set_new(r, old_type_key && !new_form ? "type" : "rope_type", json_string(type));
    if (c->rope != REF_ROPE_DEFAULT) json_object_set_new(r, "factor", json_real(c->rope_factor));
    if (c->rope == REF_ROPE_LLAMA3) {
        json_object_set_new(r, "low_freq_factor", json_real(c->low_freq_factor));
        json_object_set_new(r, "high_freq_factor", json_real(c->high_freq_factor));
        json_object_set_new(r, "original_max_position_embeddings", json_integer(c->rope_original_max));
    }
    if (new_form) {
        json_object_set_new(r, "rope_theta", json_real(c->rope_theta));
        json_object_set_new(j, "rope_parameters", r);
        return;
    }
    json_object_set_new(j, "rope_theta", json_real(c->rope_theta));
    if (c->rope == REF_ROPE_DEFAULT) {
        json_decref(r);
        json_object_set_new(j, "rope_scaling", json_null());
    } else {
        json_object_set_new(j, "rope_scaling", r);
    }
}

/* layer_types (the newer form of per-layer windows) from c->window. */
static void set_layer_types(json_t *j, const ref_config *c) {
    json_t *a = json_array();
    for (int l = 0; l < c->layers; l++) json_array_append_new(a, json_string(c->window[l] ? "sliding_attention" : "full_attention"));
    json_object_set_new(j, "layer_types", a);
}

static void set_int(json_t *j, const char *key, int v) {
    json_object_set_new(j, key, json_integer(v));
}

static void set_bool(json_t *j, const char *key, int v) {
    json_object_set_new(j, key, json_boolean(v));
}

/* The sliding-window fields of each architecture, in the config's form; c->window set. */
static void make_windows(const arch_case *a, int index, int new_form, rng *g, ref_config *c, json_t *j) {
    int w;
    switch (a->arch) {
    case REF_MISTRAL: /* every layer when sliding_window is set */
    case REF_PHI3:
        w = index == 0 ? 4 + rng_below(g, 16) : index == 2 ? 40 + rng_below(g, 80) : 0;
        json_object_set_new(j, "sliding_window", w ? json_integer(w) : json_null());
        for (int l = 0; l < c->layers; l++) c->window[l] = w;
        break;
    case REF_QWEN2: /* layers from max_window_layers on, when use_sliding_window */
    case REF_QWEN3:
        w = index == 2 ? 6 + rng_below(g, 20) : 0;
        set_bool(j, "use_sliding_window", w > 0);
        set_int(j, "sliding_window", w ? w : 4096);
        set_int(j, "max_window_layers", 1);
        for (int l = 0; l < c->layers; l++) c->window[l] = w && l >= 1 ? w : 0;
        if (new_form) set_layer_types(j, c);
        break;
    case REF_GEMMA2: /* even layers slide */
        w = index == 0 ? 3 + rng_below(g, 10) : index == 1 ? 16 + rng_below(g, 24) : 64 + rng_below(g, 64);
        set_int(j, "sliding_window", w);
        for (int l = 0; l < c->layers; l++) c->window[l] = l % 2 == 0 ? w : 0;
        if (new_form) set_layer_types(j, c);
        break;
    default:
        break;
    }
}

/* Sizes: head_dim 12 / 20 / 40 by index, GQA groups 1 / 2 / 4, odd hidden, FFN and vocab sizes. */
static void make_sizes(const arch_case *a, int index, int new_form, rng *g, ref_config *c, json_t *j) {
    static const int head_dims[NUM_CONFIGS] = {12, 20, 40};
    static const int group_sizes[NUM_CONFIGS] = {1, 2, 4};
    c->layers = 2;
    c->head_dim = head_dims[index];
    /* Qwen2 and Phi3 derive head_dim from hidden_size / num_attention_heads */
    int explicit_head_dim = a->arch != REF_QWEN2 && a->arch != REF_PHI3;
    if (explicit_head_dim) {
        c->kv_heads = 1 + rng_below(g, 2);
        c->heads = c->kv_heads * group_sizes[(index + (int)a->arch) % NUM_CONFIGS];
        c->hidden = 40 + rng_below(g, 25);
    } else { /* hidden <= 64: 4 heads of 12 (groups of 4), 2 of 20 (2), 1 of 40 (1) */
        c->heads = 4 >> index;
        c->kv_heads = 1;
        c->hidden = c->heads * c->head_dim;
    }
    c->vocab = 97 + rng_below(g, 200);
    if (c->vocab % 8 == 0) c->vocab++;
    c->intermediate = 2 * (20 + rng_below(g, 40)) + 1;
    c->rms_eps = rng_below(g, 2) ? 1e-5 : 1e-6;
    set_int(j, "hidden_size", c->hidden);
    set_int(j, "num_hidden_layers", c->layers);
    set_int(j, "num_attention_heads", c->heads);
    /* absent, num_key_value_heads means num_attention_heads in LlamaConfig and Phi3Config (but 8
     * in MistralConfig, 16 in Gemma's, 32 in Qwen's) */
    int kv_default = a->arch == REF_LLAMA || a->arch == REF_PHI3;
    if (c->kv_heads != c->heads || new_form || !kv_default) set_int(j, "num_key_value_heads", c->kv_heads);
    if (explicit_head_dim) set_int(j, "head_dim", c->head_dim);
    set_int(j, "intermediate_size", c->intermediate);
    set_int(j, "vocab_size", c->vocab);
    set_int(j, "max_position_embeddings", 4096);
    json_object_set_new(j, "rms_norm_eps", json_real(c->rms_eps));
}

/* Rotary embedding: llama3 scaling on two llama configs, linear on the third and on one qwen2
 * config, the plain one elsewhere; the classic form of config 0 spells rope_type "type". */
static void make_rope(const arch_case *a, int index, int new_form, rng *g, ref_config *c, json_t *j) {
    static const double thetas[] = {10000, 500000, 1000000};
    c->rope_theta = thetas[rng_below(g, 3)];
    if (a->arch == REF_LLAMA && index < 2) {
        c->rope = REF_ROPE_LLAMA3;
        c->rope_factor = 2 + rng_below(g, 7);
        c->low_freq_factor = 1;
        c->high_freq_factor = 2 + rng_below(g, 3);
        c->rope_original_max = 32 + rng_below(g, 96);
    } else if ((a->arch == REF_LLAMA && index == 2) || (a->arch == REF_QWEN2 && index == 1)) {
        c->rope = REF_ROPE_LINEAR;
        c->rope_factor = 1.5 + rng_below(g, 3);
    }
    set_rope(j, c, new_form, index == 0);
}

/* Tied heads, biases and the activation: a mix per architecture (Gemma ties by default, and
 * config 1 of gemma/gemma2 leaves tie_word_embeddings out). */
static void make_options(const arch_case *a, int index, ref_config *c, json_t *j) {
    static const int tie[][NUM_CONFIGS] = {{0, 1, 0}, {0, 0, 1}, {0, 0, 1}, {1, 0, 0}, {0, 1, 0}, {1, 1, 0}, {1, 1, 1}};
    int gemma = a->arch == REF_GEMMA || a->arch == REF_GEMMA2;
    c->tie_embeddings = tie[a->arch][index];
    if (!(gemma && index == 1)) set_bool(j, "tie_word_embeddings", c->tie_embeddings);
    if (a->arch == REF_LLAMA) {
        c->attention_bias = index == 1;
        c->mlp_bias = index >= 1;
        set_bool(j, "mlp_bias", c->mlp_bias);
    }
    if (a->arch == REF_QWEN3 || a->arch == REF_GEMMA) c->attention_bias = index == 2;
    if (a->arch == REF_GEMMA2) c->attention_bias = index == 1;
    set_bool(j, "attention_bias", c->attention_bias);
    c->act = gemma ? REF_GELU_TANH : REF_SILU;
    if (gemma) { /* under either key (transformers has read both over time) */
        if (index != 1) json_object_set_new(j, "hidden_activation", json_string("gelu_pytorch_tanh"));
        if (index != 2) json_object_set_new(j, "hidden_act", json_string("gelu_pytorch_tanh"));
    } else {
        json_object_set_new(j, "hidden_act", json_string("silu"));
    }
}

/* Gemma2's score scale and soft-caps (each switched off by null in one config). */
static void make_gemma2(int index, rng *g, ref_config *c, json_t *j) {
    c->query_pre_attn_scalar = index == 0 ? c->head_dim : 16 + 8 * rng_below(g, 6);
    c->attn_softcap = index == 2 ? 0 : 3 + rng_below(g, 10);
    c->final_softcap = index == 1 ? 0 : 5 + rng_below(g, 15);
    json_object_set_new(j, "query_pre_attn_scalar", json_real(c->query_pre_attn_scalar));
    json_object_set_new(j, "attn_logit_softcapping", c->attn_softcap > 0 ? json_real(c->attn_softcap) : json_null());
    json_object_set_new(j, "final_logit_softcapping", c->final_softcap > 0 ? json_real(c->final_softcap) : json_null());
}

/* Config `index` of architecture a, drawn from seed, both as mc->ref (the resolved config)
 * and as mc->config (config.json). Configs alternate between the classic form and the
 * rope_parameters (+ layer_types) form. */
static void make_case(const arch_case *a, int index, uint64_t seed, model_case *mc) {
    rng g = {seed};
    ref_config *c = &mc->ref;
    memset(c, 0, sizeof *c);
    json_t *j = json_object();
    mc->config = j;
    c->arch = a->arch;
    int new_form = (index + (int)a->arch) % 2;
    json_object_set_new(j, "architectures", json_pack("[s]", a->class_name));
    json_object_set_new(j, "model_type", json_string(a->model_type));
    set_int(j, "bos_token_id", 1);
    set_int(j, "eos_token_id", 2);
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    make_sizes(a, index, new_form, &g, c, j);
    make_rope(a, index, new_form, &g, c, j);
    make_options(a, index, c, j);
    if (a->arch == REF_GEMMA2) make_gemma2(index, &g, c, j);
    make_windows(a, index, new_form, &g, c, j);
    snprintf(mc->label, sizeof mc->label, "%s/%d (seed %llu)", a->model_type, index, (unsigned long long)seed);
}

/* ---- random weights, kept both as float64 (for the reference) and float32 (the file) ---- */

typedef struct weight_gen {
    rng g;
    double embed_var_divisor;
    ref_weights ref;
    mlcc_st_write_tensor *tensors;
    int n, cap;
} weight_gen;

/* Scales keep activations O(1): projections of variance 1/in (4/in for MLP gates), embeddings
 * of variance 1 / embed_var_divisor, norm scales near 1, small biases. */
static void gen_param(void *ctx, const char *name, int rows, int cols, ref_param_kind kind) {
    weight_gen *wg = ctx;
    size_t count = (size_t)rows * (size_t)(cols ? cols : 1);
    double *d = malloc(sizeof(double) * count);
    float *f = malloc(sizeof(float) * count);
    /* gate pre-activations of deviation 2 reach where GELU's forms (exact, tanh) differ most */
    int gate = strstr(name, "mlp.gate") != NULL;
    for (size_t i = 0; i < count; i++) {
        double u = rng_sym(&wg->g), v;
        switch (kind) {
        case REF_PARAM_MATRIX: v = u * sqrt(3.0 / cols) * (gate ? 2.0 : 1.0); break;
        case REF_PARAM_EMBEDDING: v = u * sqrt(3.0 / wg->embed_var_divisor); break;
        case REF_PARAM_BIAS: v = 0.2 * u; break;
        case REF_PARAM_NORM: v = 1.0 + 0.3 * u; break;
        case REF_PARAM_NORM_OFFSET: v = 0.3 * u; break;
        default: abort();
        }
        f[i] = (float)v;
        d[i] = f[i]; /* the reference uses exactly what the file holds */
    }
    ref_weights_add(&wg->ref, name, d, count);
    free(d);
    if (wg->n == wg->cap) {
        wg->cap = wg->cap ? 2 * wg->cap : 32;
        wg->tensors = realloc(wg->tensors, sizeof(mlcc_st_write_tensor) * (size_t)wg->cap);
    }
    int64_t *shape = malloc(sizeof(int64_t) * 2);
    shape[0] = rows, shape[1] = cols;
    wg->tensors[wg->n++] = (mlcc_st_write_tensor){strdup(name), ST_F32, cols ? 2 : 1, shape, f};
}

static void weight_gen_free(weight_gen *wg) {
    for (int i = 0; i < wg->n; i++) {
        free((char *)wg->tensors[i].name);
        free((int64_t *)wg->tensors[i].shape);
        free((float *)wg->tensors[i].data);
    }
    free(wg->tensors);
    ref_weights_free(&wg->ref);
}

/* ---- the checks ---- */

typedef struct diff {
    double max_abs, max_ref; /* max |got - want|, max |reference| */
    int row, col;            /* where the largest difference is */
} diff;

static void diff_row(diff *d, const float *got, const double *want, const double *ref, int row, int vocab) {
    for (int v = 0; v < vocab; v++) {
        double e = fabs((double)got[v] - want[v]);
        if (e > d->max_abs) d->max_abs = e, d->row = row, d->col = v;
        d->max_ref = fmax(d->max_ref, fabs(ref[v]));
    }
}

static double rel(const diff *d) {
    return d->max_abs / d->max_ref;
}

/* One prompt and its float64 reference logits [n, vocab]; the worst errors seen. */
typedef struct prompt {
    const model_case *mc;
    int n;
    int32_t *ids;
    double *ref;
    double err_prefill, err_decode;
} prompt;

static const double *ref_row(const prompt *p, int t) {
    return p->ref + (size_t)t * (size_t)p->mc->ref.vocab;
}

/* Prefill logits of every row against the reference; *out gets them (NULL on failure). */
static void check_prefill(prompt *p, mlcc_model *m, MLCCNDArray **out) {
    int vocab = p->mc->ref.vocab;
    MLCCNDArray *logits = NULL;
    *out = NULL;
    int rc = mlcc_model_prefill(m, p->ids, p->n, &logits);
    CHECK_MSG(rc == 0, "%s, prompt of %d: prefill: %s", p->mc->label, p->n, mlcc_last_error());
    if (rc) return;
    if (logits->dl.ndim != 2 || logits->dl.shape[0] != p->n || logits->dl.shape[1] != vocab) {
        CHECK_MSG(0, "%s, prompt of %d: prefill logits of the wrong shape", p->mc->label, p->n);
        mlcc_ndarray_release(logits);
        return;
    }
    const float *got = logits->dl.data;
    diff d = {0};
    for (int t = 0; t < p->n; t++) diff_row(&d, got + (size_t)t * (size_t)vocab, ref_row(p, t), ref_row(p, t), t, vocab);
    p->err_prefill = fmax(p->err_prefill, rel(&d));
    CHECK_MSG(rel(&d) <= TOLERANCE,
              "%s, prompt of %d: prefill logits differ from the reference by %.3g relative (row %d, token id %d: got %.6g, "
              "want %.6g; max |ref| %.4g)",
              p->mc->label, p->n, rel(&d), d.row, d.col, got[(size_t)d.row * (size_t)vocab + (size_t)d.col],
              ref_row(p, d.row)[d.col], d.max_ref);
    *out = logits;
}

/* The decode path: the KV cache fed one token at a time; each step's logits against the
 * reference and against prefill's row (when prefill ran). */
static void check_decode(prompt *p, mlcc_model *m, const MLCCNDArray *prefill) {
    int vocab = p->mc->ref.vocab;
    mlcc_model_kv kv;
    CHECK_MSG(mlcc_model_kv_init(m, &kv) == 0, "%s", mlcc_last_error());
    float *row = malloc(sizeof(float) * (size_t)vocab);
    double *prefill_row = malloc(sizeof(double) * (size_t)vocab);
    diff dr = {0}, dp = {0};
    for (int t = 0; t < p->n; t++) {
        if (mlcc_model_forward(m, &kv, p->ids + t, 1, row)) {
            CHECK_MSG(0, "%s, prompt of %d: decode step %d: %s", p->mc->label, p->n, t, mlcc_last_error());
            break;
        }
        diff_row(&dr, row, ref_row(p, t), ref_row(p, t), t, vocab);
        if (prefill) {
            const float *pr = (const float *)prefill->dl.data + (size_t)t * (size_t)vocab;
            for (int v = 0; v < vocab; v++) prefill_row[v] = pr[v];
            diff_row(&dp, row, prefill_row, ref_row(p, t), t, vocab);
        }
    }
    p->err_decode = fmax(p->err_decode, fmax(rel(&dr), rel(&dp)));
    CHECK_MSG(rel(&dr) <= TOLERANCE, "%s, prompt of %d: decode logits differ from the reference by %.3g relative (row %d, token id %d)",
              p->mc->label, p->n, rel(&dr), dr.row, dr.col);
    CHECK_MSG(rel(&dp) <= TOLERANCE, "%s, prompt of %d: decode logits differ from prefill by %.3g relative (row %d, token id %d)",
              p->mc->label, p->n, rel(&dp), dp.row, dp.col);
    mlcc_model_kv_free(&kv);
    free(row), free(prefill_row);
}

/* The KV cache fed chunks of several tokens after cached ones (what a chunked prefill does),
 * then the last 20 popped and fed again: the logits after each chunk's last token against the
 * reference. */
static void check_chunks(prompt *p, mlcc_model *m) {
    static const int sizes[] = {5, 1, 16, 33, 64, 2};
    int vocab = p->mc->ref.vocab;
    mlcc_model_kv kv;
    CHECK_MSG(mlcc_model_kv_init(m, &kv) == 0, "%s", mlcc_last_error());
    float *row = malloc(sizeof(float) * (size_t)vocab);
    diff d = {0};
    for (int at = 0, k = 0; at < p->n; k++) {
        int len = sizes[k % (int)(sizeof sizes / sizeof sizes[0])];
        if (len > p->n - at) len = p->n - at;
        if (mlcc_model_forward(m, &kv, p->ids + at, len, row)) {
            CHECK_MSG(0, "%s, prompt of %d: chunk of %d after %d: %s", p->mc->label, p->n, len, at, mlcc_last_error());
            break;
        }
        at += len;
        diff_row(&d, row, ref_row(p, at - 1), ref_row(p, at - 1), at - 1, vocab);
    }
    /* drop the last 20 tokens and feed them again (7, then 13): the cache forgot them */
    if (p->n > 20 && kv.len == p->n) {
        int rc = mlcc_model_kv_pop(&kv, 20);
        CHECK_MSG(rc == 0, "%s, prompt of %d: pop: %s", p->mc->label, p->n, mlcc_last_error());
        int at = p->n - 20;
        for (int k = 0; rc == 0 && k < 2; k++) {
            int len = k == 0 ? 7 : 13;
            rc = mlcc_model_forward(m, &kv, p->ids + at, len, row);
            CHECK_MSG(rc == 0, "%s, prompt of %d: chunk of %d after a pop: %s", p->mc->label, p->n, len, mlcc_last_error());
            at += len;
            if (rc == 0) diff_row(&d, row, ref_row(p, at - 1), ref_row(p, at - 1), at - 1, vocab);
        }
    }
    p->err_decode = fmax(p->err_decode, rel(&d));
    CHECK_MSG(rel(&d) <= TOLERANCE, "%s, prompt of %d: chunked forward differs from the reference by %.3g relative (row %d, token id %d)",
              p->mc->label, p->n, rel(&d), d.row, d.col);
    mlcc_model_kv_free(&kv);
    free(row);
}

/* A prompt of n random tokens through prefill, decode and chunks; worst errors into *err_*. */
static void check_prompt(const model_case *mc, mlcc_model *m, const weight_gen *wg, int n, rng *g, double *err_prefill,
                         double *err_decode) {
    const ref_config *c = &mc->ref;
    prompt p = {mc, n, malloc(sizeof(int32_t) * (size_t)n), malloc(sizeof(double) * (size_t)n * (size_t)c->vocab), 0, 0};
    for (int i = 0; i < n; i++) p.ids[i] = rng_below(g, c->vocab);
    ref_forward(c, &wg->ref, p.ids, n, p.ref);
    MLCCNDArray *logits;
    check_prefill(&p, m, &logits);
    check_decode(&p, m, logits);
    if (n > 1) check_chunks(&p, m);
    mlcc_ndarray_release(logits);
    *err_prefill = fmax(*err_prefill, p.err_prefill);
    *err_decode = fmax(*err_decode, p.err_decode);
    free(p.ids), free(p.ref);
}

/* Writes the folder, opens it, checks every prompt length, removes the folder. */
static void run_case(const model_case *mc, uint64_t seed) {
    /* Gemma multiplies the embeddings by sqrt(hidden): smaller ones keep its residual stream O(1),
     * so that the MLP's share of the logits (and an activation that is slightly off) shows */
    int scaled = mc->ref.arch == REF_GEMMA || mc->ref.arch == REF_GEMMA2;
    weight_gen wg = {{seed ^ 0x5eedull}, scaled ? mc->ref.hidden : 1, {0}, NULL, 0, 0};
    ref_params(&mc->ref, gen_param, &wg);

    char dir[] = "random-config-XXXXXX"; /* under the build folder, the tests' cwd */
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "%s: cannot create a temporary folder", mc->label);
        weight_gen_free(&wg);
        return;
    }
    char config_path[64], weights_path[64];
    snprintf(config_path, sizeof config_path, "%s/config.json", dir);
    snprintf(weights_path, sizeof weights_path, "%s/model.safetensors", dir);
    int ok = json_dump_file(mc->config, config_path, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) == 0;
    CHECK_MSG(ok, "%s: cannot write %s", mc->label, config_path);
    ok = ok && safetensors_write(weights_path, wg.tensors, (size_t)wg.n, NULL) == 0;
    CHECK_MSG(ok, "%s: %s", mc->label, mlcc_last_error());

    /* prefill in chunks of 64 (every row's logits), so prompts of 300 cross chunk boundaries */
    mlcc_model_options opt = {.max_seq = MAX_SEQ, .prefill_chunk = 64, .logit_rows = 64};
    mlcc_model *m = ok ? mlcc_model_open(dir, &opt) : NULL;
    CHECK_MSG(!ok || m != NULL, "%s: %s", mc->label, mlcc_last_error());
    if (m) {
        rng g = {seed ^ 0x70f7ull};
        double err_prefill = 0, err_decode = 0;
        for (size_t k = 0; k < sizeof PROMPT_LENGTHS / sizeof PROMPT_LENGTHS[0]; k++)
            check_prompt(mc, m, &wg, PROMPT_LENGTHS[k], &g, &err_prefill, &err_decode);
        const ref_config *c = &mc->ref;
        printf("%-28s hidden %2d heads %d/%d head_dim %2d ffn %3d vocab %3d window %3d/%-3d  max rel error: prefill %.2g, "
               "decode/chunks %.2g\n",
               mc->label, c->hidden, c->heads, c->kv_heads, c->head_dim, c->intermediate, c->vocab, c->window[0], c->window[1],
               err_prefill, err_decode);
        mlcc_model_free(m);
    }
    unlink(config_path);
    unlink(weights_path);
    rmdir(dir);
    weight_gen_free(&wg);
}

int main(void) {
    const char *only = getenv("MLCC_TEST_ARCH");
    const char *seed_env = getenv("MLCC_TEST_SEED");
    uint64_t base = seed_env ? strtoull(seed_env, NULL, 0) : 2026;
    int ran = 0;
    for (size_t i = 0; i < sizeof ARCHS / sizeof ARCHS[0]; i++) {
        if (only && strcmp(only, ARCHS[i].model_type)) continue;
        ran++;
        for (int k = 0; k < NUM_CONFIGS; k++) {
            uint64_t seed = base * 1000 + i * NUM_CONFIGS + (uint64_t)k;
            model_case mc;
            make_case(&ARCHS[i], k, seed, &mc);
            run_case(&mc, seed);
            json_decref(mc.config);
        }
    }
    if (!ran) TEST_SKIP("MLCC_TEST_ARCH=%s is not one of the architectures", only);
    return test_finish();
}
