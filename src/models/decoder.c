/* decoder.c - the shared graph of decoder-only transformers: embedding, N blocks of
 * (norm, attention, residual, norm, MLP, residual), final norm, LM head. What differs between
 * architectures comes from decoder_spec and the config (biases, fused projections, q/k norms,
 * gemma's scaled embedding and (1 + w) norms, gemma2's extra norms and soft-caps, windows).
 * Separate q/k/v (gate/up) matrices of one scheme are built as the fused ones when
 * params->combine asks (their rows concatenated at load: fuse_proj.c). */
#include "models/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen/attention.h"
#include "mlcc/mlcc_runtime.h"
#include "ir/block_builder.h"
#include "op/op.h"
#include "support/alloc.h"
#include "support/error.h"

typedef struct dec {
    rx_builder *bb;
    const mlcc_model_config *cfg;
    const decoder_spec *spec;
    model_param_list *params;
    model_fn_params *fn; /* the weights this function takes, as indices into params */
    mlcc_expr *n;        /* tokens of the step */
    rx_expr *inv_freq;
    rx_expr *kv_cache, *positions; /* the paged KV cache and the positions of the step's tokens */
    rx_expr *rope_table;           /* cos and sin of the step's rope angles, shared by the layers */
} dec;

void model_param_list_free(model_param_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i].name), free(l->items[i].source);
    free(l->items);
    memset(l, 0, sizeof *l);
}

void model_fn_params_free(model_fn_params *f) {
    free(f->index);
    memset(f, 0, sizeof *f);
}

/* The index of parameter `name` in the model's list, added (as a plain float32 tensor of the
 * checkpoint tensor of that name) on first use by any function. */
static int param_index(model_param_list *l, const char *name, int64_t d0, int64_t d1) {
    int index = 0;
    while (index < l->n && strcmp(l->items[index].name, name)) index++;
    if (index < l->n) return index;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = mlcc_xrealloc(l->items, sizeof(model_param) * (size_t)l->cap);
    }
    model_param *p = &l->items[l->n++];
    memset(p, 0, sizeof *p);
    p->name = mlcc_xstrdup(name);
    p->source = mlcc_xstrdup(name);
    p->ndim = d1 > 0 ? 2 : 1;
    p->shape[0] = p->source_shape[0] = d0, p->shape[1] = p->source_shape[1] = d1;
    p->dtype = DT_F32;
    p->partner = -1;
    return index;
}

/* Parameter `index` as a parameter of the function being built (a var named after it with
 * dots made underscores, so printed IR stays readable). */
static rx_expr *param_var(dec *d, int index) {
    model_fn_params *f = d->fn;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 64;
        f->index = mlcc_xrealloc(f->index, sizeof(int) * (size_t)f->cap);
    }
    f->index[f->n++] = index;
    const model_param *p = &d->params->items[index];
    char var[256];
    snprintf(var, sizeof var, "%s", p->name);
    for (char *c = var; *c; c++)
        if (*c == '.') *c = '_';
    rx_sinfo *s = p->ndim == 2 ? rx_sinfo_tensor_v(p->dtype, ir_int(p->shape[0]), ir_int(p->shape[1]), NULL)
                               : rx_sinfo_tensor_v(p->dtype, ir_int(p->shape[0]), NULL);
    rx_expr *v = rx_var(var, s);
    bb_add_function_param(d->bb, v);
    return v;
}

/* The float32 weight parameter `name` of the function being built. */
static rx_expr *weight(dec *d, const char *name, int64_t d0, int64_t d1) {
    return param_var(d, param_index(d->params, name, d0, d1));
}

/* The scheme of matrix `name` with rows of `in` values: the model's (quant_scheme_for_matrix:
 * AWQ keeps the embedding and LM head float16), or under ggml_mixed the one its GGUF tensor is
 * stored in; q0f32 when there is none (or a k-quant row would not be whole super-blocks). */
static const mlcc_quant_scheme *matrix_scheme(dec *d, const char *name, int64_t in) {
    const mlcc_quant_scheme *q = quant_scheme_for_matrix(d->params->quant, name);
    if (quant_is_mixed(q)) q = d->params->matrix_scheme ? d->params->matrix_scheme(d->params->matrix_ctx, name) : NULL;
    if (quant_is_kquant(q) && in % 256) q = NULL;
    return q || !d->params->quant ? q : quant_scheme_find(NULL);
}

static int is_float32(const mlcc_quant_scheme *q) {
    return !q || (q->bits == 0 && dtype_eq(q->weight_dtype, DT_F32));
}

/* A matrix weight `name` [out, in] under scheme q: q0f32 the tensor itself; q0f16 a float16
 * parameter; 4/8-bit and k-quants the pair <prefix>.q_weight / <prefix>.q_scale (MLC LLM's
 * names). *q_scale is NULL when there is no pair. */
static rx_expr *matrix_param(dec *d, const mlcc_quant_scheme *q, const char *name, int64_t out, int64_t in, rx_expr **q_scale) {
    *q_scale = NULL;
    if (is_float32(q)) return weight(d, name, out, in);
    model_param_list *l = d->params;
    if (q->bits == 0) {
        int i = param_index(l, name, out, in);
        l->items[i].dtype = q->weight_dtype;
        return param_var(d, i);
    }
    char base[256], qw[300], qs[300];
    size_t len = strlen(name);
    snprintf(base, sizeof base, "%.*s", (int)(len > 7 && !strcmp(name + len - 7, ".weight") ? len - 7 : len), name);
    snprintf(qw, sizeof qw, "%s.q_weight", base);
    snprintf(qs, sizeof qs, "%s.q_scale", base);
    int iw = param_index(l, qw, out, quant_packed_cols(q, in));
    int is = param_index(l, qs, out, quant_scale_cols(q, in));
    model_param *pw = &l->items[iw], *ps = &l->items[is];
    pw->dtype = q->weight_dtype, ps->dtype = q->scale_dtype;
    pw->role = PARAM_Q_WEIGHT, ps->role = PARAM_Q_SCALE;
    pw->partner = is, ps->partner = iw;
    pw->quant = ps->quant = q;
    free(pw->source), free(ps->source);
    pw->source = mlcc_xstrdup(name), ps->source = mlcc_xstrdup(name);
    pw->source_shape[0] = ps->source_shape[0] = out;
    pw->source_shape[1] = ps->source_shape[1] = in;
    rx_expr *w = param_var(d, iw);
    *q_scale = param_var(d, is);
    return w;
}

static rx_expr *emit(dec *d, rx_expr *value, const char *hint);

/* The dequantize op of a quantized (q_weight, q_scale) pair of scheme q. */
static rx_expr *dequantize(const mlcc_quant_scheme *q, rx_expr *w, rx_expr *scale, int64_t in) {
    if (quant_is_kquant(q)) return op_dequantize_kquant(w, scale, (int)q->ggml_type, in);
    return op_dequantize_group_zero(w, scale, q->bits, q->group_size, q->zero_point, q->group_zero, in);
}

/* The float32 [out, in] value of matrix weight `name` stored as scheme q (dequantized when
 * quantized). */
static rx_expr *matrix_weight_as(dec *d, const mlcc_quant_scheme *q, const char *name, int64_t out, int64_t in) {
    rx_expr *scale, *w = matrix_param(d, q, name, out, in, &scale);
    if (is_float32(q)) return w;
    return emit(d, dequantize(q, w, scale, in), "dequant");
}

/* Rows ids of the embedding table [vocab, hidden]: quantized, the packed rows are taken first
 * and only they are dequantized. */
static rx_expr *embedding(dec *d, rx_expr *ids, int64_t vocab, int64_t hidden) {
    const char *name = "model.embed_tokens.weight";
    const mlcc_quant_scheme *q = matrix_scheme(d, name, hidden);
    rx_expr *scale, *w = matrix_param(d, q, name, vocab, hidden, &scale);
    if (is_float32(q)) return emit(d, op_take(w, ids, 0), "embed");
    w = emit(d, op_take(w, ids, 0), "embed_q");
    if (scale) scale = emit(d, op_take(scale, ids, 0), "embed_scale");
    if (!scale) return emit(d, op_dequantize(w, NULL, 0, 0, 0, hidden), "embed");
    return emit(d, dequantize(q, w, scale, hidden), "embed");
}

static rx_expr *matrix_weight(dec *d, const char *name, int64_t out, int64_t in) {
    return matrix_weight_as(d, matrix_scheme(d, name, in), name, out, in);
}

static rx_expr *layer_weight(dec *d, int layer, const char *suffix, int64_t d0, int64_t d1) {
    char name[256];
    snprintf(name, sizeof name, "model.layers.%d.%s", layer, suffix);
    return weight(d, name, d0, d1);
}

static rx_expr *emit(dec *d, rx_expr *value, const char *hint) {
    return bb_emit(d->bb, value, hint);
}

static rx_expr *scalar(double v) {
    float f = (float)v;
    return rx_constant(DT_F32, NULL, 0, &f);
}

/* x [rows, in] @ W^T (+ b) for the projection `prefix`.weight / .bias, W stored as scheme q
 * (NULL: the model's for that name) */
static rx_expr *linear_as(dec *d, const mlcc_quant_scheme *q, rx_expr *x, int layer, const char *prefix, int64_t out, int64_t in,
                          int bias) {
    char name[200];
    snprintf(name, sizeof name, "%s.weight", prefix);
    char full[256];
    snprintf(full, sizeof full, "model.layers.%d.%s", layer, name);
    if (!q) q = matrix_scheme(d, full, in);
    rx_expr *y = emit(d, op_linear(x, matrix_weight_as(d, q, full, out, in)), "proj");
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        y = emit(d, op_add(y, layer_weight(d, layer, name, out, 0)), "proj_bias");
    }
    return y;
}

static rx_expr *linear(dec *d, rx_expr *x, int layer, const char *prefix, int64_t out, int64_t in, int bias) {
    return linear_as(d, NULL, x, layer, prefix, out, in, bias);
}

/* The scheme the separate projections parts[n] of layer share, when they run as one combined
 * matrix (fuse_proj.h): combining is on and they have one scheme (a Q4_K_M file stores some
 * layers' v as Q6_K: those stay separate). NULL: they stay separate. */
static const mlcc_quant_scheme *combined_scheme(dec *d, int layer, const char *const *parts, int n, int64_t in) {
    if (!d->params->combine) return NULL;
    const mlcc_quant_scheme *first = NULL;
    for (int k = 0; k < n; k++) {
        char name[256];
        snprintf(name, sizeof name, "model.layers.%d.%s.weight", layer, parts[k]);
        const mlcc_quant_scheme *q = matrix_scheme(d, name, in);
        if (!q) q = quant_scheme_find(NULL);
        if (k && q != first) return NULL;
        first = q;
    }
    return first;
}

/* x @ W^T (+ b) of the combined projection `prefix` of layer, scheme q: its parameters marked
 * combined, so the loader concatenates the parts' rows into them. */
static rx_expr *combined_linear(dec *d, const mlcc_quant_scheme *q, rx_expr *x, int layer, const char *prefix, int64_t out,
                                int64_t in, int bias) {
    rx_expr *y = linear_as(d, q, x, layer, prefix, out, in, bias);
    char head[200];
    int len = snprintf(head, sizeof head, "model.layers.%d.%s.", layer, prefix);
    for (int i = 0; i < d->params->n; i++)
        if (!strncmp(d->params->items[i].source, head, (size_t)len)) d->params->items[i].combined = 1;
    return y;
}

static rx_expr *rms_norm(dec *d, rx_expr *x, rx_expr *w) {
    if (d->spec->norm_plus_one) w = emit(d, op_add(w, scalar(1.0)), "norm_w");
    return emit(d, op_rms_norm(x, w, d->cfg->rms_eps), "norm");
}

static rx_expr *layer_norm(dec *d, rx_expr *x, int layer, const char *name) {
    char full[128];
    snprintf(full, sizeof full, "%s.weight", name);
    return rms_norm(d, x, layer_weight(d, layer, full, d->cfg->hidden, 0));
}

static rx_expr *heads(dec *d, rx_expr *x, int64_t nh) {
    mlcc_expr *shape[3] = {d->n, ir_int(nh), ir_int(d->cfg->head_dim)};
    return emit(d, op_reshape(x, shape, 3), "heads");
}

/* Columns [begin, end) of a fused projection's output x [n, out]: a slice rather than one split
 * into a tuple, so each part fuses into the kernel that reads it (rope, silu * up) instead of
 * being copied out by a split kernel first. */
static rx_expr *columns(dec *d, rx_expr *x, int64_t begin, int64_t end) {
    int64_t axis = 1;
    return emit(d, op_strided_slice(x, &axis, &begin, &end, NULL, 1), "part");
}

static rx_expr *attention(dec *d, rx_expr *h, int layer) {
    const mlcc_model_config *c = d->cfg;
    int64_t qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    rx_expr *q, *k, *v;
    static const char *const parts[3] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    const mlcc_quant_scheme *combine = d->spec->fused_qkv ? NULL : combined_scheme(d, layer, parts, 3, c->hidden);
    if (d->spec->fused_qkv || combine) {
        rx_expr *qkv = combine ? combined_linear(d, combine, h, layer, "self_attn.qkv_proj", qd + 2 * kvd, c->hidden, d->spec->qkv_bias)
                               : linear(d, h, layer, "self_attn.qkv_proj", qd + 2 * kvd, c->hidden, d->spec->qkv_bias);
        q = columns(d, qkv, 0, qd);
        k = columns(d, qkv, qd, qd + kvd);
        v = columns(d, qkv, qd + kvd, qd + 2 * kvd);
    } else {
        q = linear(d, h, layer, "self_attn.q_proj", qd, c->hidden, d->spec->qkv_bias);
        k = linear(d, h, layer, "self_attn.k_proj", kvd, c->hidden, d->spec->qkv_bias);
        v = linear(d, h, layer, "self_attn.v_proj", kvd, c->hidden, d->spec->qkv_bias);
    }
    q = heads(d, q, c->heads), k = heads(d, k, c->kv_heads), v = heads(d, v, c->kv_heads);
    if (d->spec->qk_norm) {
        q = rms_norm(d, q, layer_weight(d, layer, "self_attn.q_norm.weight", c->head_dim, 0));
        k = rms_norm(d, k, layer_weight(d, layer, "self_attn.k_norm.weight", c->head_dim, 0));
    }
    q = emit(d, op_rope_with_table(q, d->rope_table), "q_rope");
    k = emit(d, op_rope_with_table(k, d->rope_table), "k_rope");
    /* the cache appends k and v to the step's sequences and attends over their pages (causal,
     * this layer's window, soft-cap and scale are in the kernels and the cache) */
    mlcc_expr *shape[3] = {d->n, ir_int(c->heads), ir_int(c->head_dim)};
    rx_expr *args[5] = {d->kv_cache, rx_prim_value(ir_int(layer)), q, k, v};
    rx_expr *o = emit(d, op_call_dps_packed("mlcc.kv_cache.attention", args, 5, rx_sinfo_tensor(shape, 3, DT_F32)), "attn");
    mlcc_expr *flat[2] = {d->n, ir_int(qd)};
    o = emit(d, op_reshape(o, flat, 2), "attn_flat");
    return linear(d, o, layer, "self_attn.o_proj", c->hidden, qd, d->spec->o_bias);
}

static rx_expr *activate(dec *d, rx_expr *x) {
    const char *op = d->cfg->act == ACT_SILU ? "nn.silu" : d->cfg->act == ACT_GELU_TANH ? "nn.gelu_tanh" : "nn.gelu";
    return emit(d, op_unary(op, x), "act");
}

static rx_expr *mlp(dec *d, rx_expr *h, int layer) {
    const mlcc_model_config *c = d->cfg;
    int bias = d->spec->mlp_bias;
    rx_expr *gate, *up;
    static const char *const parts[2] = {"mlp.gate_proj", "mlp.up_proj"};
    const mlcc_quant_scheme *combine = d->spec->fused_gate_up ? NULL : combined_scheme(d, layer, parts, 2, c->hidden);
    if (d->spec->fused_gate_up || combine) {
        rx_expr *gu = combine ? combined_linear(d, combine, h, layer, "mlp.gate_up_proj", 2 * c->intermediate, c->hidden, bias)
                              : linear(d, h, layer, "mlp.gate_up_proj", 2 * c->intermediate, c->hidden, bias);
        gate = columns(d, gu, 0, c->intermediate);
        up = columns(d, gu, c->intermediate, 2 * c->intermediate);
    } else {
        gate = linear(d, h, layer, "mlp.gate_proj", c->intermediate, c->hidden, bias);
        up = linear(d, h, layer, "mlp.up_proj", c->intermediate, c->hidden, bias);
    }
    rx_expr *m = emit(d, op_multiply(activate(d, gate), up), "gated");
    return linear(d, m, layer, "mlp.down_proj", c->hidden, c->intermediate, bias);
}

static rx_expr *block(dec *d, rx_expr *x, int layer) {
    int sandwich = d->spec->sandwich_norms;
    rx_expr *a = attention(d, layer_norm(d, x, layer, "input_layernorm"), layer);
    if (sandwich) a = layer_norm(d, a, layer, "post_attention_layernorm");
    x = emit(d, op_add(x, a), "resid");
    rx_expr *h = layer_norm(d, x, layer, sandwich ? "pre_feedforward_layernorm" : "post_attention_layernorm");
    rx_expr *m = mlp(d, h, layer);
    if (sandwich) m = layer_norm(d, m, layer, "post_feedforward_layernorm");
    return emit(d, op_add(x, m), "resid");
}

const char *const decoder_fn_names[DEC_FN_COUNT] = {"embed", "batch_prefill", "batch_decode", "decode"};

static rx_expr *reshaped(dec *d, rx_expr *x, mlcc_expr *d0, mlcc_expr *d1, mlcc_expr *d2, const char *hint) {
    mlcc_expr *shape[3] = {d0, d1, d2};
    return emit(d, op_reshape(x, shape, d2 ? 3 : 2), hint);
}

/* The decoder stack over the step's n tokens x [n, hidden] -> logits [rows, vocab] of the rows
 * `at` (NULL: all). */
static rx_expr *decoder_stack(dec *d, rx_expr *x, rx_expr *at) {
    const mlcc_model_config *cfg = d->cfg;
    int64_t half = cfg->head_dim / 2;
    double *freq = mlcc_xmalloc(sizeof(double) * (size_t)half);
    model_rope_inv_freq(cfg, freq);
    d->inv_freq = rx_constant(DT_F64, &half, 1, freq);
    free(freq);
    d->positions = emit(d, op_call_dps_packed("mlcc.kv_cache.positions", &d->kv_cache, 1, rx_sinfo_tensor_v(DT_I32, d->n, NULL)),
                        "positions");
    /* the angles depend on the token and the frequency only: one kernel computes their cosines
     * and sines for every head and layer of the step (rope.c) */
    d->rope_table = emit(d, op_rope_table(d->inv_freq, d->positions), "rope_table");
    for (int layer = 0; layer < cfg->layers; layer++) x = block(d, x, layer);
    if (at) x = emit(d, op_take(x, at, 0), "rows");
    x = rms_norm(d, x, weight(d, "model.norm.weight", cfg->hidden, 0));
    const char *head_name = cfg->tie_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    rx_expr *logits = emit(d, op_linear(x, matrix_weight(d, head_name, cfg->vocab, cfg->hidden)), "logits");
    if (cfg->final_softcap > 0) {
        rx_expr *t = emit(d, op_unary("tanh", emit(d, op_divide(logits, scalar(cfg->final_softcap)), "capped")), "tanh");
        logits = emit(d, op_multiply(t, scalar(cfg->final_softcap)), "logits_capped");
    }
    return logits;
}

/* One graph function over the weights (see decoder.h). */
static int build_function(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec,
                          const decoder_bounds *bounds, decoder_fn kind, model_param_list *params, model_fn_params *fn) {
    dec d = {bb_new(mod), cfg, spec, params, fn, ir_size_var("n"), NULL, NULL, NULL, NULL};
    mlcc_expr *b = ir_size_var("b");
    int64_t hidden = cfg->hidden, vocab = cfg->vocab;
    rx_attrs attrs = {NULL, 0};
    int64_t rows = bounds->logit_rows > bounds->max_batch ? bounds->logit_rows : bounds->max_batch;
    rx_expr *in, *at = NULL;
    d.kv_cache = rx_var("kv_cache", rx_sinfo_object());
    switch (kind) {
    case DEC_FN_EMBED:
        in = rx_var("input_ids", rx_sinfo_tensor_v(DT_I32, d.n, NULL));
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:n",
                                 bounds->prefill_chunk > bounds->max_batch ? bounds->prefill_chunk : bounds->max_batch);
        bb_begin_function(d.bb, "embed", &in, 1);
        break;
    case DEC_FN_PREFILL:
        in = rx_var("embeds", rx_sinfo_tensor_v(DT_F32, ir_int(1), d.n, ir_int(hidden), NULL));
        at = rx_var("logit_positions", rx_sinfo_tensor_v(DT_I32, b, NULL));
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:n", bounds->prefill_chunk);
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:b", rows);
        bb_begin_function(d.bb, "batch_prefill", (rx_expr *[]){in, at, d.kv_cache}, 3);
        break;
    default:
        in = rx_var("embeds", rx_sinfo_tensor_v(DT_F32, d.n, ir_int(1), ir_int(hidden), NULL));
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:n", bounds->max_batch);
        bb_begin_function(d.bb, "batch_decode", (rx_expr *[]){in, d.kv_cache}, 2);
        break;
    }
    bb_set_function_attrs(d.bb, attrs);
    bb_begin_dataflow(d.bb);
    rx_expr *result;
    if (kind == DEC_FN_EMBED) {
        rx_expr *x = embedding(&d, in, vocab, hidden);
        if (spec->embed_scale) x = emit(&d, op_multiply(x, scalar(sqrt((double)hidden))), "embed_scaled");
        result = x;
    } else if (kind == DEC_FN_PREFILL) {
        rx_expr *logits = decoder_stack(&d, reshaped(&d, in, d.n, ir_int(hidden), NULL, "tokens"), at);
        result = reshaped(&d, logits, ir_int(1), b, ir_int(vocab), "logits_batch");
    } else {
        rx_expr *logits = decoder_stack(&d, reshaped(&d, in, d.n, ir_int(hidden), NULL, "tokens"), NULL);
        result = reshaped(&d, logits, d.n, ir_int(1), ir_int(vocab), "logits_batch");
    }
    rx_expr *out = bb_emit_output(d.bb, result, "out");
    bb_end_dataflow(d.bb);
    rx_expr *f = bb_end_function(d.bb, out);
    int rc = 0;
    if (!f)
        rc = mlcc_set_error("building the %s graph (%s): %s", cfg->model_type, decoder_fn_names[kind],
                            bb_error(d.bb) ? bb_error(d.bb) : mlcc_last_error());
    bb_free(d.bb);
    return rc;
}

/* create_kv_cache(shape [max_batch, max_total_len, prefill_chunk, page_size, sliding_window])
 * -> the KV cache object, with the generated attention kernels of this model. Pages: enough for
 * max_total_len tokens plus one partial page per sequence. page_size must be the one the
 * kernels were generated for (the shape parameter says so, so the VM checks it). */
static int build_create_kv_cache(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_bounds *bounds,
                                 const mlcc_quant_scheme *quant) {
    mlcc_attn_config ac = {
        .head_dim = (int)cfg->head_dim,
        .num_qo_heads = (int)cfg->heads,
        .num_kv_heads = (int)cfg->kv_heads,
        .page_size = bounds->page_size,
        .dtype = DT_F32,
        .scale = 1.0 / sqrt(cfg->query_pre_attn_scalar > 0 ? cfg->query_pre_attn_scalar : (double)cfg->head_dim),
        .softcap = cfg->attn_softcap,
        .kv_dtype = bounds->kv_f16 ? DT_F16 : (mlcc_dtype){0},
    };
    mlcc_prim_func *kernels[3];
    if (gen_attn_kernels(&ac, kernels)) return mlcc_prefix_error("the attention kernels of %s", cfg->model_type);
    static const char *const names[3] = {"kv_append", "attn_prefill", "attn_decode"};
    for (int i = 0; i < 3; i++)
        if (irmod_add_prim(mod, names[i], kernels[i])) return -1;
    mlcc_expr *max_batch = ir_size_var("max_batch"), *max_total = ir_size_var("max_total_len");
    mlcc_expr *dims[5] = {max_batch, max_total, ir_size_var("prefill_chunk"), ir_int(bounds->page_size), ir_size_var("sliding_window")};
    rx_expr *shape = rx_var("config", rx_sinfo_shape(dims, 5));
    rx_builder *bb = bb_new(mod);
    bb_begin_function(bb, "create_kv_cache", &shape, 1);
    mlcc_expr **windows = mlcc_xmalloc(sizeof(mlcc_expr *) * (size_t)cfg->layers);
    for (int64_t l = 0; l < cfg->layers; l++) windows[l] = ir_int(cfg->layer_window[l]);
    mlcc_expr *pages = ir_add(ir_floordiv(ir_add(max_total, ir_int(bounds->page_size - 1)), ir_int(bounds->page_size)), max_batch);
    /* the scale and soft-cap for a device's library attention (the VM passes no floats: strings);
     * float16 math is acceptable when the weights are not float32 */
    char scale[40], softcap[40];
    snprintf(scale, sizeof scale, "%.17g", ac.scale);
    snprintf(softcap, sizeof softcap, "%.17g", ac.softcap);
    int f16_ok = quant && !(quant->bits == 0 && dtype_eq(quant->weight_dtype, DT_F32));
    rx_expr *args[15] = {rx_prim_value(ir_int(cfg->layers)), rx_prim_value(ir_int(cfg->heads)),
                         rx_prim_value(ir_int(cfg->kv_heads)), rx_prim_value(ir_int(cfg->head_dim)),
                         rx_prim_value(ir_int(bounds->page_size)), rx_prim_value(pages), rx_string_imm("float32"),
                         rx_shape_expr(windows, (int)cfg->layers), rx_global_var(names[0]), rx_global_var(names[1]),
                         rx_global_var(names[2]), rx_string_imm(bounds->kv_f16 ? "float16" : "float32"),
                         rx_string_imm(scale), rx_string_imm(softcap),
                         rx_prim_value(ir_int(f16_ok))};
    free(windows);
    rx_expr *cache = bb_emit(bb, op_call_packed("mlcc.kv_cache.create", args, 15, rx_sinfo_object()), "cache");
    rx_expr *f = cache ? bb_end_function(bb, cache) : NULL;
    int rc = f ? 0 : mlcc_set_error("building create_kv_cache of %s: %s", cfg->model_type, bb_error(bb) ? bb_error(bb) : mlcc_last_error());
    bb_free(bb);
    return rc;
}

/* decode(embeds [1, 1, hidden], kv_cache, <weights>) = batch_decode of one sequence. */
static int build_decode(mlcc_ir_module *mod, const mlcc_model_config *cfg, const model_param_list *params,
                        const model_fn_params *batch, model_fn_params *fn) {
    rx_builder *bb = bb_new(mod);
    rx_expr *in = rx_var("embeds", rx_sinfo_tensor_v(DT_F32, ir_int(1), ir_int(1), ir_int(cfg->hidden), NULL));
    rx_expr *kv = rx_var("kv_cache", rx_sinfo_object());
    bb_begin_function(bb, "decode", (rx_expr *[]){in, kv}, 2);
    int nargs = 2 + batch->n;
    rx_expr **args = mlcc_xmalloc(sizeof(rx_expr *) * (size_t)nargs);
    args[0] = in, args[1] = kv;
    for (int i = 0; i < batch->n; i++) {
        const model_param *p = &params->items[batch->index[i]];
        char var[256];
        snprintf(var, sizeof var, "%s", p->name);
        for (char *c = var; *c; c++)
            if (*c == '.') *c = '_';
        rx_sinfo *s = p->ndim == 2 ? rx_sinfo_tensor_v(p->dtype, ir_int(p->shape[0]), ir_int(p->shape[1]), NULL)
                                   : rx_sinfo_tensor_v(p->dtype, ir_int(p->shape[0]), NULL);
        args[2 + i] = rx_var(var, s);
        bb_add_function_param(bb, args[2 + i]);
        if (fn->n == fn->cap) {
            fn->cap = fn->cap ? fn->cap * 2 : 64;
            fn->index = mlcc_xrealloc(fn->index, sizeof(int) * (size_t)fn->cap);
        }
        fn->index[fn->n++] = batch->index[i];
    }
    rx_expr *out = bb_emit(bb, rx_call(rx_global_var("batch_decode"), args, nargs, (rx_attrs){NULL, 0}, NULL, 0), "logits");
    free(args);
    rx_expr *f = out ? bb_end_function(bb, out) : NULL;
    int rc = f ? 0 : mlcc_set_error("building decode of %s: %s", cfg->model_type, bb_error(bb) ? bb_error(bb) : mlcc_last_error());
    bb_free(bb);
    return rc;
}

int decoder_build(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, const decoder_bounds *bounds,
                  model_param_list *params, model_fn_params fns[DEC_FN_COUNT]) {
    for (int kind = 0; kind < DEC_FN_DECODE; kind++)
        if (build_function(mod, cfg, spec, bounds, (decoder_fn)kind, params, &fns[kind])) return -1;
    if (build_decode(mod, cfg, params, &fns[DEC_FN_BATCH_DECODE], &fns[DEC_FN_DECODE])) return -1;
    return build_create_kv_cache(mod, cfg, bounds, params->quant);
}
