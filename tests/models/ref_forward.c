/* ref_forward.c - the float64 reference transformer of ref_forward.h. Each piece follows the
 * corresponding Hugging Face transformers module (modeling_llama.py and the files derived from
 * it), one token row at a time, with no attempt at speed: clarity is the point. */
#include "ref_forward.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- what each architecture's modules contain ---- */

/* q/k/v projections carry a bias: Qwen2Attention always (bias=True); LlamaAttention,
 * Qwen3Attention, GemmaAttention, Gemma2Attention when config.attention_bias; MistralAttention
 * and Phi3Attention never. */
static int has_qkv_bias(const ref_config *c) {
    switch (c->arch) {
    case REF_QWEN2: return 1;
    case REF_LLAMA: case REF_QWEN3: case REF_GEMMA: case REF_GEMMA2: return c->attention_bias;
    default: return 0;
    }
}

/* o_proj: the same as q/k/v except Qwen2 (bias=False). */
static int has_o_bias(const ref_config *c) {
    return c->arch == REF_QWEN2 ? 0 : has_qkv_bias(c);
}

/* LlamaMLP: bias=config.mlp_bias; the other MLPs have none. */
static int has_mlp_bias(const ref_config *c) {
    return c->arch == REF_LLAMA && c->mlp_bias;
}

/* GemmaRMSNorm / Gemma2RMSNorm scale by (1 + weight). */
static int norm_plus_one(const ref_config *c) {
    return c->arch == REF_GEMMA || c->arch == REF_GEMMA2;
}

/* ---- the weight map ---- */

void ref_weights_add(ref_weights *w, const char *name, const double *data, size_t count) {
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 32;
        w->items = realloc(w->items, sizeof(ref_tensor) * (size_t)w->cap);
        if (!w->items) abort();
    }
    ref_tensor *t = &w->items[w->n++];
    t->name = strdup(name);
    t->data = malloc(sizeof(double) * count);
    if (!t->name || !t->data) abort();
    memcpy(t->data, data, sizeof(double) * count);
    t->count = count;
}

void ref_weights_free(ref_weights *w) {
    for (int i = 0; i < w->n; i++) free(w->items[i].name), free(w->items[i].data);
    free(w->items);
    memset(w, 0, sizeof *w);
}

static const double *get(const ref_weights *w, const char *name, size_t count) {
    for (int i = 0; i < w->n; i++) {
        if (strcmp(w->items[i].name, name)) continue;
        if (w->items[i].count != count) {
            fprintf(stderr, "ref_forward: %s has %zu values, expected %zu\n", name, w->items[i].count, count);
            abort();
        }
        return w->items[i].data;
    }
    fprintf(stderr, "ref_forward: missing weight %s\n", name);
    abort();
}

static const double *layer_get(const ref_weights *w, int layer, const char *suffix, size_t count) {
    char name[160];
    snprintf(name, sizeof name, "model.layers.%d.%s", layer, suffix);
    return get(w, name, count);
}

/* ---- the checkpoint's tensors ---- */

static void layer_param(ref_param_fn fn, void *ctx, int layer, const char *suffix, int rows, int cols, ref_param_kind kind) {
    char name[160];
    snprintf(name, sizeof name, "model.layers.%d.%s", layer, suffix);
    fn(ctx, name, rows, cols, kind);
}

static void linear_params(ref_param_fn fn, void *ctx, int layer, const char *proj, int out, int in, int bias) {
    char suffix[120];
    snprintf(suffix, sizeof suffix, "%s.weight", proj);
    layer_param(fn, ctx, layer, suffix, out, in, REF_PARAM_MATRIX);
    if (bias) {
        snprintf(suffix, sizeof suffix, "%s.bias", proj);
        layer_param(fn, ctx, layer, suffix, out, 0, REF_PARAM_BIAS);
    }
}

void ref_params(const ref_config *c, ref_param_fn fn, void *ctx) {
    int qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    ref_param_kind norm = norm_plus_one(c) ? REF_PARAM_NORM_OFFSET : REF_PARAM_NORM;
    fn(ctx, "model.embed_tokens.weight", c->vocab, c->hidden, REF_PARAM_EMBEDDING);
    for (int l = 0; l < c->layers; l++) {
        if (c->arch == REF_PHI3) {
            linear_params(fn, ctx, l, "self_attn.qkv_proj", qd + 2 * kvd, c->hidden, 0);
        } else {
            linear_params(fn, ctx, l, "self_attn.q_proj", qd, c->hidden, has_qkv_bias(c));
            linear_params(fn, ctx, l, "self_attn.k_proj", kvd, c->hidden, has_qkv_bias(c));
            linear_params(fn, ctx, l, "self_attn.v_proj", kvd, c->hidden, has_qkv_bias(c));
        }
        linear_params(fn, ctx, l, "self_attn.o_proj", c->hidden, qd, has_o_bias(c));
        if (c->arch == REF_QWEN3) {
            layer_param(fn, ctx, l, "self_attn.q_norm.weight", c->head_dim, 0, norm);
            layer_param(fn, ctx, l, "self_attn.k_norm.weight", c->head_dim, 0, norm);
        }
        if (c->arch == REF_PHI3) {
            linear_params(fn, ctx, l, "mlp.gate_up_proj", 2 * c->intermediate, c->hidden, 0);
        } else {
            linear_params(fn, ctx, l, "mlp.gate_proj", c->intermediate, c->hidden, has_mlp_bias(c));
            linear_params(fn, ctx, l, "mlp.up_proj", c->intermediate, c->hidden, has_mlp_bias(c));
        }
        linear_params(fn, ctx, l, "mlp.down_proj", c->hidden, c->intermediate, has_mlp_bias(c));
        layer_param(fn, ctx, l, "input_layernorm.weight", c->hidden, 0, norm);
        layer_param(fn, ctx, l, "post_attention_layernorm.weight", c->hidden, 0, norm);
        if (c->arch == REF_GEMMA2) {
            layer_param(fn, ctx, l, "pre_feedforward_layernorm.weight", c->hidden, 0, norm);
            layer_param(fn, ctx, l, "post_feedforward_layernorm.weight", c->hidden, 0, norm);
        }
    }
    fn(ctx, "model.norm.weight", c->hidden, 0, norm);
    if (!c->tie_embeddings) fn(ctx, "lm_head.weight", c->vocab, c->hidden, REF_PARAM_MATRIX);
}

/* ---- building blocks ---- */

/* nn.Linear: y[out] = W[out, in] x[in] (+ b). */
static void linear(const double *W, const double *b, const double *x, int out, int in, double *y) {
    for (int o = 0; o < out; o++) {
        double s = b ? b[o] : 0;
        for (int i = 0; i < in; i++) s += W[(size_t)o * (size_t)in + (size_t)i] * x[i];
        y[o] = s;
    }
}

/* A projection of the layer by name, with its bias when it has one. */
static void project(const ref_weights *w, int layer, const char *proj, int bias, const double *x, int out, int in, double *y) {
    char suffix[120];
    snprintf(suffix, sizeof suffix, "%s.weight", proj);
    const double *W = layer_get(w, layer, suffix, (size_t)out * (size_t)in);
    const double *b = NULL;
    if (bias) {
        snprintf(suffix, sizeof suffix, "%s.bias", proj);
        b = layer_get(w, layer, suffix, (size_t)out);
    }
    linear(W, b, x, out, in, y);
}

/* LlamaRMSNorm: x / sqrt(mean(x^2) + eps) * weight; GemmaRMSNorm: ... * (1 + weight). In place. */
static void rms_norm(const ref_config *c, const double *weight, double *x, int dim) {
    double ss = 0;
    for (int i = 0; i < dim; i++) ss += x[i] * x[i];
    double r = 1.0 / sqrt(ss / dim + c->rms_eps);
    for (int i = 0; i < dim; i++) x[i] = x[i] * r * (norm_plus_one(c) ? 1.0 + weight[i] : weight[i]);
}

static double activation(ref_act act, double x) {
    switch (act) {
    case REF_SILU: return x / (1.0 + exp(-x));
    case REF_GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case REF_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    }
    abort();
}

/* modeling_rope_utils: _compute_default_rope_parameters, _compute_linear_scaling_rope_parameters
 * and _compute_llama3_parameters (attention_factor 1 for all three). */
static void rope_inv_freq(const ref_config *c, double *inv_freq) {
    int half = c->head_dim / 2;
    for (int k = 0; k < half; k++) {
        double f = 1.0 / pow(c->rope_theta, (double)(2 * k) / c->head_dim);
        if (c->rope == REF_ROPE_LINEAR) f /= c->rope_factor;
        if (c->rope == REF_ROPE_LLAMA3) {
            double old_len = c->rope_original_max;
            double low_freq_wavelen = old_len / c->low_freq_factor;
            double high_freq_wavelen = old_len / c->high_freq_factor;
            double wavelen = 2 * M_PI / f;
            double scaled = wavelen > low_freq_wavelen ? f / c->rope_factor : f;
            double smooth = (old_len / wavelen - c->low_freq_factor) / (c->high_freq_factor - c->low_freq_factor);
            double smoothed = (1 - smooth) * scaled / c->rope_factor + smooth * scaled;
            int medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
            f = medium ? smoothed : scaled;
        }
        inv_freq[k] = f;
    }
}

/* apply_rotary_pos_emb on one head: x * cos + rotate_half(x) * sin, with cos/sin of
 * cat(freqs, freqs) and rotate_half(x) = cat(-x2, x1). */
static void rope(const ref_config *c, const double *inv_freq, int pos, double *x) {
    int half = c->head_dim / 2;
    for (int k = 0; k < half; k++) {
        double a = pos * inv_freq[k], cs = cos(a), sn = sin(a);
        double x1 = x[k], x2 = x[k + half];
        x[k] = x1 * cs - x2 * sn;
        x[k + half] = x2 * cs + x1 * sn;
    }
}

/* ---- the decoder ---- */

typedef struct run {
    const ref_config *c;
    const ref_weights *w;
    int n;
    double *inv_freq;
} run;

/* q[n, heads * hd], k and v [n, kv_heads * hd] of one layer, q/k normed (Qwen3) and rotated. */
static void qkv(const run *r, int layer, const double *h, double *q, double *k, double *v) {
    const ref_config *c = r->c;
    int hd = c->head_dim, qd = c->heads * hd, kvd = c->kv_heads * hd;
    double *fused = malloc(sizeof(double) * (size_t)(qd + 2 * kvd));
    for (int t = 0; t < r->n; t++) {
        const double *x = h + (size_t)t * (size_t)c->hidden;
        double *qt = q + (size_t)t * (size_t)qd, *kt = k + (size_t)t * (size_t)kvd, *vt = v + (size_t)t * (size_t)kvd;
        if (c->arch == REF_PHI3) { /* Phi3Attention: qkv = qkv_proj(x); q | k | v along the last axis */
            project(r->w, layer, "self_attn.qkv_proj", 0, x, qd + 2 * kvd, c->hidden, fused);
            memcpy(qt, fused, sizeof(double) * (size_t)qd);
            memcpy(kt, fused + qd, sizeof(double) * (size_t)kvd);
            memcpy(vt, fused + qd + kvd, sizeof(double) * (size_t)kvd);
        } else {
            project(r->w, layer, "self_attn.q_proj", has_qkv_bias(c), x, qd, c->hidden, qt);
            project(r->w, layer, "self_attn.k_proj", has_qkv_bias(c), x, kvd, c->hidden, kt);
            project(r->w, layer, "self_attn.v_proj", has_qkv_bias(c), x, kvd, c->hidden, vt);
        }
        if (c->arch == REF_QWEN3) { /* Qwen3Attention: q_norm / k_norm over head_dim, before rope */
            const double *qn = layer_get(r->w, layer, "self_attn.q_norm.weight", (size_t)hd);
            const double *kn = layer_get(r->w, layer, "self_attn.k_norm.weight", (size_t)hd);
            for (int hh = 0; hh < c->heads; hh++) rms_norm(c, qn, qt + hh * hd, hd);
            for (int hh = 0; hh < c->kv_heads; hh++) rms_norm(c, kn, kt + hh * hd, hd);
        }
        for (int hh = 0; hh < c->heads; hh++) rope(c, r->inv_freq, t, qt + hh * hd);
        for (int hh = 0; hh < c->kv_heads; hh++) rope(c, r->inv_freq, t, kt + hh * hd);
    }
    free(fused);
}

/* eager_attention_forward: softmax(q k^T * scaling (soft-capped: Gemma2) + causal / sliding
 * mask) v, key/value heads repeated n_rep times (repeat_kv), then o_proj. out[n, hidden]. */
static void attention(const run *r, int layer, const double *h, double *out) {
    const ref_config *c = r->c;
    int n = r->n, hd = c->head_dim, qd = c->heads * hd, kvd = c->kv_heads * hd, n_rep = c->heads / c->kv_heads;
    double *q = malloc(sizeof(double) * (size_t)n * (size_t)qd);
    double *k = malloc(sizeof(double) * (size_t)n * (size_t)kvd);
    double *v = malloc(sizeof(double) * (size_t)n * (size_t)kvd);
    double *o = calloc((size_t)qd, sizeof(double));
    double *p = malloc(sizeof(double) * (size_t)n);
    qkv(r, layer, h, q, k, v);
    double scaling = 1.0 / sqrt(c->arch == REF_GEMMA2 ? c->query_pre_attn_scalar : (double)hd);
    int window = c->window[layer];
    for (int i = 0; i < n; i++) {
        for (int hh = 0; hh < c->heads; hh++) {
            const double *qi = q + (size_t)i * (size_t)qd + (size_t)(hh * hd);
            int g = hh / n_rep;
            double mx = -INFINITY;
            for (int j = 0; j <= i; j++) {
                /* the sliding-window mask keeps kv_idx > q_idx - sliding_window */
                if (window > 0 && !(j > i - window)) {
                    p[j] = -INFINITY;
                    continue;
                }
                const double *kj = k + (size_t)j * (size_t)kvd + (size_t)(g * hd);
                double s = 0;
                for (int d = 0; d < hd; d++) s += qi[d] * kj[d];
                s *= scaling;
                if (c->attn_softcap > 0) s = tanh(s / c->attn_softcap) * c->attn_softcap;
                p[j] = s;
                mx = fmax(mx, s);
            }
            double sum = 0;
            for (int j = 0; j <= i; j++) sum += p[j] = p[j] == -INFINITY ? 0 : exp(p[j] - mx);
            double *oh = o + hh * hd;
            for (int d = 0; d < hd; d++) oh[d] = 0;
            for (int j = 0; j <= i; j++) {
                const double *vj = v + (size_t)j * (size_t)kvd + (size_t)(g * hd);
                for (int d = 0; d < hd; d++) oh[d] += p[j] / sum * vj[d];
            }
        }
        project(r->w, layer, "self_attn.o_proj", has_o_bias(c), o, c->hidden, qd, out + (size_t)i * (size_t)c->hidden);
    }
    free(q), free(k), free(v), free(o), free(p);
}

/* LlamaMLP (and kin): down_proj(act(gate_proj(x)) * up_proj(x)); Phi3MLP: gate_up_proj, then
 * gate, up = chunk(2). out[n, hidden]. */
static void mlp(const run *r, int layer, const double *h, double *out) {
    const ref_config *c = r->c;
    int I = c->intermediate, bias = has_mlp_bias(c);
    double *gu = malloc(sizeof(double) * 2 * (size_t)I);
    for (int t = 0; t < r->n; t++) {
        const double *x = h + (size_t)t * (size_t)c->hidden;
        if (c->arch == REF_PHI3) {
            project(r->w, layer, "mlp.gate_up_proj", 0, x, 2 * I, c->hidden, gu);
        } else {
            project(r->w, layer, "mlp.gate_proj", bias, x, I, c->hidden, gu);
            project(r->w, layer, "mlp.up_proj", bias, x, I, c->hidden, gu + I);
        }
        for (int i = 0; i < I; i++) gu[i] = activation(c->act, gu[i]) * gu[I + i];
        project(r->w, layer, "mlp.down_proj", bias, gu, c->hidden, I, out + (size_t)t * (size_t)c->hidden);
    }
    free(gu);
}

/* Each row of x[n, hidden] through the layer's norm `name`. */
static void norm_rows(const run *r, int layer, const char *name, double *x) {
    const ref_config *c = r->c;
    char suffix[120];
    snprintf(suffix, sizeof suffix, "%s.weight", name);
    const double *wt = layer_get(r->w, layer, suffix, (size_t)c->hidden);
    for (int t = 0; t < r->n; t++) rms_norm(c, wt, x + (size_t)t * (size_t)c->hidden, c->hidden);
}

/* LlamaDecoderLayer: x += attn(norm(x)); x += mlp(norm(x)). Gemma2DecoderLayer also norms the
 * attention and MLP outputs (post_attention_layernorm, post_feedforward_layernorm) and calls
 * the MLP's input norm pre_feedforward_layernorm. */
static void decoder_layer(const run *r, int layer, double *x) {
    const ref_config *c = r->c;
    size_t size = (size_t)r->n * (size_t)c->hidden;
    double *h = malloc(sizeof(double) * size), *y = malloc(sizeof(double) * size);
    int gemma2 = c->arch == REF_GEMMA2;
    memcpy(h, x, sizeof(double) * size);
    norm_rows(r, layer, "input_layernorm", h);
    attention(r, layer, h, y);
    if (gemma2) norm_rows(r, layer, "post_attention_layernorm", y);
    for (size_t i = 0; i < size; i++) x[i] += y[i];
    memcpy(h, x, sizeof(double) * size);
    norm_rows(r, layer, gemma2 ? "pre_feedforward_layernorm" : "post_attention_layernorm", h);
    mlp(r, layer, h, y);
    if (gemma2) norm_rows(r, layer, "post_feedforward_layernorm", y);
    for (size_t i = 0; i < size; i++) x[i] += y[i];
    free(h), free(y);
}

void ref_forward(const ref_config *c, const ref_weights *w, const int32_t *ids, int n, double *logits) {
    if (c->layers > REF_MAX_LAYERS || c->heads % c->kv_heads || c->head_dim % 2) {
        fprintf(stderr, "ref_forward: unsupported config (layers %d, heads %d/%d, head_dim %d)\n", c->layers, c->heads,
                c->kv_heads, c->head_dim);
        abort();
    }
    run r = {c, w, n, malloc(sizeof(double) * (size_t)(c->head_dim / 2))};
    rope_inv_freq(c, r.inv_freq);
    const double *embed = get(w, "model.embed_tokens.weight", (size_t)c->vocab * (size_t)c->hidden);
    double *x = malloc(sizeof(double) * (size_t)n * (size_t)c->hidden);
    /* GemmaModel / Gemma2Model: embeddings times normalizer = sqrt(hidden_size) */
    double normalizer = c->arch == REF_GEMMA || c->arch == REF_GEMMA2 ? sqrt((double)c->hidden) : 1.0;
    for (int t = 0; t < n; t++)
        for (int i = 0; i < c->hidden; i++)
            x[(size_t)t * (size_t)c->hidden + (size_t)i] = embed[(size_t)ids[t] * (size_t)c->hidden + (size_t)i] * normalizer;
    for (int l = 0; l < c->layers; l++) decoder_layer(&r, l, x);
    const double *final_norm = get(w, "model.norm.weight", (size_t)c->hidden);
    const double *head = c->tie_embeddings ? embed : get(w, "lm_head.weight", (size_t)c->vocab * (size_t)c->hidden);
    for (int t = 0; t < n; t++) {
        double *xt = x + (size_t)t * (size_t)c->hidden, *row = logits + (size_t)t * (size_t)c->vocab;
        rms_norm(c, final_norm, xt, c->hidden);
        linear(head, NULL, xt, c->vocab, c->hidden, row);
        /* Gemma2ForCausalLM: logits = tanh(logits / cap) * cap */
        if (c->final_softcap > 0)
            for (int v = 0; v < c->vocab; v++) row[v] = tanh(row[v] / c->final_softcap) * c->final_softcap;
    }
    free(x);
    free(r.inv_freq);
}
