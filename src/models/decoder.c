/* decoder.c - the shared graph of decoder-only transformers: embedding, N blocks of
 * (norm, attention, residual, norm, MLP, residual), final norm, LM head. What differs between
 * architectures comes from decoder_spec and the config (biases, fused projections, q/k norms,
 * gemma's scaled embedding and (1 + w) norms, gemma2's extra norms and soft-caps, windows). */
#include "models/decoder.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/block_builder.h"
#include "op/op.h"
#include "support/alloc.h"
#include "support/error.h"

typedef struct dec {
    rx_builder *bb;
    const mlcc_model_config *cfg;
    const decoder_spec *spec;
    model_param_list *params;
    mlcc_expr *n;
    rx_expr *inv_freq;
    /* forward_kv only: positions of the new tokens, the caches of earlier tokens
     * ([layers, m, kv_heads, head_dim]), and every layer's full K / V ([1, m + n, ...]) */
    rx_expr *positions, *past_k, *past_v;
    mlcc_expr *m, *t; /* t = m + n */
    rx_expr **all_k, **all_v;
} dec;

void model_param_list_free(model_param_list *l) {
    for (int i = 0; i < l->n; i++) free(l->items[i].name);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* The weight parameter `name` (declared on first use; a var named after it with dots made
 * underscores, so printed IR stays readable). */
static rx_expr *weight(dec *d, const char *name, int64_t d0, int64_t d1) {
    model_param_list *l = d->params;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->items = mlcc_xrealloc(l->items, sizeof(model_param) * (size_t)l->cap);
    }
    model_param *p = &l->items[l->n++];
    p->name = mlcc_xstrdup(name);
    p->ndim = d1 > 0 ? 2 : 1;
    p->shape[0] = d0, p->shape[1] = d1;
    char var[256];
    snprintf(var, sizeof var, "%s", name);
    for (char *c = var; *c; c++)
        if (*c == '.') *c = '_';
    rx_sinfo *s = d1 > 0 ? rx_sinfo_tensor_v(DT_F32, ir_int(d0), ir_int(d1), NULL) : rx_sinfo_tensor_v(DT_F32, ir_int(d0), NULL);
    rx_expr *v = rx_var(var, s);
    bb_add_function_param(d->bb, v);
    return v;
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

/* x [rows, in] @ W^T (+ b) for the projection `prefix`.weight / .bias */
static rx_expr *linear(dec *d, rx_expr *x, int layer, const char *prefix, int64_t out, int64_t in, int bias) {
    char name[200];
    snprintf(name, sizeof name, "%s.weight", prefix);
    rx_expr *y = emit(d, op_linear(x, layer_weight(d, layer, name, out, in)), "proj");
    if (bias) {
        snprintf(name, sizeof name, "%s.bias", prefix);
        y = emit(d, op_add(y, layer_weight(d, layer, name, out, 0)), "proj_bias");
    }
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

static rx_expr *split_part(dec *d, rx_expr *x, const int64_t *at, int nat, int index) {
    rx_expr *parts = emit(d, op_split_at(x, at, nat, -1), "parts");
    return parts ? emit(d, rx_tuple_get_item(parts, index), "part") : NULL;
}

/* The layer's cached rows of `past` followed by the new rows `x`: [m + n, kv_heads, D]; *keep
 * gets them as [1, m + n, kv_heads, D] for the returned cache. */
static rx_expr *with_past(dec *d, rx_expr *past, rx_expr *x, int layer, rx_expr **keep) {
    const mlcc_model_config *c = d->cfg;
    int64_t axis = 0, begin = layer, end = layer + 1;
    rx_expr *slice = emit(d, op_strided_slice(past, &axis, &begin, &end, NULL, 1), "past_layer");
    mlcc_expr *rows[3] = {d->m, ir_int(c->kv_heads), ir_int(c->head_dim)};
    rx_expr *old = emit(d, op_reshape(slice, rows, 3), "past_rows");
    rx_expr *full = emit(d, op_concat((rx_expr *[]){old, x}, 2, 0), "kv_concat");
    /* m + n as its own size var t: a kernel reading a [m + n, ...] tensor alone could not
     * recover m and n from it */
    mlcc_expr *total[3] = {d->t, ir_int(c->kv_heads), ir_int(c->head_dim)};
    full = full ? bb_match_cast(d->bb, full, rx_sinfo_tensor(total, 3, DT_F32), "kv_full") : NULL;
    mlcc_expr *one[4] = {ir_int(1), d->t, ir_int(c->kv_heads), ir_int(c->head_dim)};
    *keep = emit(d, op_reshape(full, one, 4), "kv_keep");
    return full;
}

static rx_expr *attention(dec *d, rx_expr *h, int layer) {
    const mlcc_model_config *c = d->cfg;
    int64_t qd = c->heads * c->head_dim, kvd = c->kv_heads * c->head_dim;
    rx_expr *q, *k, *v;
    if (d->spec->fused_qkv) {
        rx_expr *qkv = linear(d, h, layer, "self_attn.qkv_proj", qd + 2 * kvd, c->hidden, d->spec->qkv_bias);
        int64_t at[2] = {qd, qd + kvd};
        q = split_part(d, qkv, at, 2, 0);
        k = split_part(d, qkv, at, 2, 1);
        v = split_part(d, qkv, at, 2, 2);
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
    q = emit(d, op_rope(q, d->inv_freq, d->positions), "q_rope");
    k = emit(d, op_rope(k, d->inv_freq, d->positions), "k_rope");
    if (d->past_k) {
        k = with_past(d, d->past_k, k, layer, &d->all_k[layer]);
        v = with_past(d, d->past_v, v, layer, &d->all_v[layer]);
    }
    double scale = 1.0 / sqrt(c->query_pre_attn_scalar > 0 ? c->query_pre_attn_scalar : (double)c->head_dim);
    rx_expr *o = emit(d, op_attention(q, k, v, scale, c->layer_window[layer], c->attn_softcap), "attn");
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
    if (d->spec->fused_gate_up) {
        rx_expr *gu = linear(d, h, layer, "mlp.gate_up_proj", 2 * c->intermediate, c->hidden, bias);
        int64_t at = c->intermediate;
        gate = split_part(d, gu, &at, 1, 0);
        up = split_part(d, gu, &at, 1, 1);
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

typedef enum { FN_PREFILL, FN_PREFILL_AT, FN_FORWARD_KV } fn_kind;

/* One graph function over the weights (see decoder.h). prefill_at runs the LM head, the
 * costly part with a large vocabulary, on the chosen rows only. */
static int build_function(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, int64_t max_seq,
                          fn_kind kind, model_param_list *params) {
    dec d = {bb_new(mod), cfg, spec, params, ir_size_var("n"), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
    rx_expr *ids = rx_var("input_ids", rx_sinfo_tensor_v(DT_I32, d.n, NULL));
    mlcc_expr *b = ir_size_var("b");
    rx_expr *at = rx_var("logit_positions", rx_sinfo_tensor_v(DT_I32, b, NULL));
    rx_attrs attrs = {NULL, 0};
    attrs = rx_attrs_set_int(attrs, "var_upper_bound:n", max_seq);
    if (kind != FN_PREFILL) attrs = rx_attrs_set_int(attrs, "var_upper_bound:b", max_seq);
    if (kind == FN_FORWARD_KV) {
        d.m = ir_size_var("m");
        d.t = ir_size_var("t");
        d.positions = rx_var("positions", rx_sinfo_tensor_v(DT_I32, d.n, NULL));
        mlcc_expr *shape[4] = {ir_int(cfg->layers), d.m, ir_int(cfg->kv_heads), ir_int(cfg->head_dim)};
        d.past_k = rx_var("past_k", rx_sinfo_tensor(shape, 4, DT_F32));
        d.past_v = rx_var("past_v", rx_sinfo_tensor(shape, 4, DT_F32));
        d.all_k = mlcc_xcalloc((size_t)cfg->layers, sizeof(rx_expr *));
        d.all_v = mlcc_xcalloc((size_t)cfg->layers, sizeof(rx_expr *));
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:m", max_seq);
        attrs = rx_attrs_set_int(attrs, "var_upper_bound:t", max_seq);
        bb_begin_function(d.bb, "forward_kv", (rx_expr *[]){ids, d.positions, at, d.past_k, d.past_v}, 5);
    } else {
        bb_begin_function(d.bb, kind == FN_PREFILL_AT ? "prefill_at" : "prefill", (rx_expr *[]){ids, at},
                          kind == FN_PREFILL_AT ? 2 : 1);
    }
    bb_set_function_attrs(d.bb, attrs);
    bb_begin_dataflow(d.bb);
    int64_t half = cfg->head_dim / 2;
    double *freq = mlcc_xmalloc(sizeof(double) * (size_t)half);
    model_rope_inv_freq(cfg, freq);
    d.inv_freq = rx_constant(DT_F64, &half, 1, freq);
    free(freq);

    rx_expr *embed = weight(&d, "model.embed_tokens.weight", cfg->vocab, cfg->hidden);
    rx_expr *x = emit(&d, op_take(embed, ids, 0), "embed");
    if (spec->embed_scale) x = emit(&d, op_multiply(x, scalar(sqrt((double)cfg->hidden))), "embed_scaled");
    for (int layer = 0; layer < cfg->layers; layer++) x = block(&d, x, layer);
    if (kind != FN_PREFILL) x = emit(&d, op_take(x, at, 0), "rows");
    x = rms_norm(&d, x, weight(&d, "model.norm.weight", cfg->hidden, 0));
    rx_expr *head = cfg->tie_embeddings ? embed : weight(&d, "lm_head.weight", cfg->vocab, cfg->hidden);
    rx_expr *logits = emit(&d, op_linear(x, head), "logits");
    if (cfg->final_softcap > 0) {
        rx_expr *t = emit(&d, op_unary("tanh", emit(&d, op_divide(logits, scalar(cfg->final_softcap)), "capped")), "tanh");
        logits = emit(&d, op_multiply(t, scalar(cfg->final_softcap)), "logits_capped");
    }
    rx_expr *result = logits;
    if (kind == FN_FORWARD_KV) {
        rx_expr *k = emit(&d, op_concat(d.all_k, (int)cfg->layers, 0), "k_cache");
        rx_expr *v = emit(&d, op_concat(d.all_v, (int)cfg->layers, 0), "v_cache");
        result = rx_tuple((rx_expr *[]){logits, k, v}, 3);
    }
    rx_expr *out = bb_emit_output(d.bb, result, "out");
    bb_end_dataflow(d.bb);
    rx_expr *f = bb_end_function(d.bb, out);
    int rc = 0;
    if (!f) rc = mlcc_set_error("building the %s graph: %s", cfg->model_type, bb_error(d.bb) ? bb_error(d.bb) : mlcc_last_error());
    bb_free(d.bb);
    free(d.all_k);
    free(d.all_v);
    return rc;
}

int decoder_build(mlcc_ir_module *mod, const mlcc_model_config *cfg, const decoder_spec *spec, int64_t max_seq,
                  model_param_list *params) {
    if (build_function(mod, cfg, spec, max_seq, FN_PREFILL, params)) return -1;
    /* the same weights in the same order: the other lists only confirm it */
    int rc = 0;
    for (fn_kind kind = FN_PREFILL_AT; rc == 0 && kind <= FN_FORWARD_KV; kind++) {
        model_param_list again = {0};
        rc = build_function(mod, cfg, spec, max_seq, kind, &again);
        if (rc == 0 && again.n != params->n) rc = mlcc_set_error("the graph functions take different weights");
        for (int i = 0; rc == 0 && i < again.n; i++)
            if (strcmp(again.items[i].name, params->items[i].name)) rc = mlcc_set_error("the graph functions take different weights");
        model_param_list_free(&again);
    }
    return rc;
}
