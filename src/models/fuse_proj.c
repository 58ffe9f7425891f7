/* fuse_proj.c - parallel projections combined at load (see fuse_proj.h).
 *
 * A Llama layer runs seven projections; q, k and v read the same normed input, as do gate and
 * up. One wider matmul instead of three (two) is fewer kernel launches and a better memory ramp
 * for decode GEMVs, one rounding of x and one library call in prefill, fewer parallel regions
 * on the CPU. Concatenating the rows (output features) of the stored matrices is exact for
 * every scheme: each row's packed words and group scales (q4f16_1, q8, AWQ, ggml blocks and
 * k-quant super-blocks all group along the input) stay as they are, and float rows are rows.
 *
 * Design: the graph builder (decoder.c) builds such a layer exactly as it builds a checkpoint
 * with fused tensors (phi3's qkv_proj / gate_up_proj: one linear, then split), when
 * model_param_list.combine is set and the parts share one scheme (a Q4_K_M file stores some
 * layers' v as Q6_K: those stay separate); it marks the parameters it made `combined`. The
 * loaders then present each combined parameter as a virtual tensor: fuse_proj_load fills it
 * part by part through the loader's own one-parameter routine on a scratch model, so no loader
 * learns about combining beyond one call. The alternative, a graph pass matching three linears
 * of one input and rewriting their parameters, needs the pass to rename parameters after the
 * loader has bound them and the loaders to concatenate anyway; building the fused graph
 * directly reuses the path phi3 already exercises on every device. Loading a part at a time
 * keeps the peak at the weights plus one part (weights are read into their own buffers, none
 * stays mmapped). A converted folder made without combining still loads: its part tensors are
 * found by their names, and one made with combining loads separate parameters from row ranges
 * of its combined tensors. MLCC_FUSE_PROJ=0 turns combining off. */
#include "models/fuse_proj.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/error.h"

int fuse_proj_enabled(void) {
    const char *env = getenv("MLCC_FUSE_PROJ");
    return !env || strcmp(env, "0") != 0;
}

typedef struct fused_kind {
    const char *fused, *parts[FUSE_PROJ_MAX_PARTS];
    int nparts;
} fused_kind;

static const fused_kind kinds[] = {
    {".self_attn.qkv_proj.", {".self_attn.q_proj.", ".self_attn.k_proj.", ".self_attn.v_proj."}, 3},
    {".mlp.gate_up_proj.", {".mlp.gate_proj.", ".mlp.up_proj."}, 2},
};

int fuse_proj_parts(const mlcc_model_config *cfg, const char *name, fuse_part parts[FUSE_PROJ_MAX_PARTS]) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const char *at = strstr(name, kinds[k].fused);
        if (!at) continue;
        int64_t q = cfg->heads * cfg->head_dim, kv = cfg->kv_heads * cfg->head_dim;
        int64_t rows[FUSE_PROJ_MAX_PARTS] = {q, kv, kv};
        if (k == 1) rows[0] = rows[1] = cfg->intermediate;
        for (int p = 0; p < kinds[k].nparts; p++) {
            snprintf(parts[p].name, sizeof parts[p].name, "%.*s%s%s", (int)(at - name), name, kinds[k].parts[p],
                     at + strlen(kinds[k].fused));
            parts[p].rows = rows[p];
        }
        return kinds[k].nparts;
    }
    return 0;
}

int fuse_proj_whole(const mlcc_model_config *cfg, const char *name, char *whole, size_t cap, int64_t *row, int64_t *rows) {
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
        for (int p = 0; p < kinds[k].nparts; p++) {
            const char *at = strstr(name, kinds[k].parts[p]);
            if (!at) continue;
            snprintf(whole, cap, "%.*s%s%s", (int)(at - name), name, kinds[k].fused, at + strlen(kinds[k].parts[p]));
            fuse_part parts[FUSE_PROJ_MAX_PARTS];
            fuse_proj_parts(cfg, whole, parts);
            *row = *rows = 0;
            for (int q = 0; q < kinds[k].nparts; q++) {
                if (q < p) *row += parts[q].rows;
                *rows += parts[q].rows;
            }
            return 1;
        }
    return 0;
}

int fuse_proj_param_reads(const mlcc_model_config *cfg, const model_param *p, const char *tensor) {
    if (!p->combined) return strcmp(p->source, tensor) == 0;
    fuse_part parts[FUSE_PROJ_MAX_PARTS];
    int n = fuse_proj_parts(cfg, p->source, parts);
    for (int k = 0; k < n; k++)
        if (!strcmp(parts[k].name, tensor)) return 1;
    return 0;
}

static size_t row_bytes(const MLCCNDArray *a) {
    size_t n = (size_t)((a->dl.dtype.bits + 7) / 8);
    for (int d = 1; d < a->dl.ndim; d++) n *= (size_t)a->dl.shape[d];
    return n;
}

/* The part k's copy of combined parameter p: same columns and dtype, its rows and names. */
static void part_param(const mlcc_model_config *cfg, const model_param *p, int k, model_param *out, char *name,
                       char *source) {
    fuse_part names[FUSE_PROJ_MAX_PARTS], sources[FUSE_PROJ_MAX_PARTS];
    fuse_proj_parts(cfg, p->name, names);
    fuse_proj_parts(cfg, p->source, sources);
    *out = *p;
    out->combined = 0;
    strcpy(name, names[k].name), strcpy(source, sources[k].name);
    out->name = name, out->source = source;
    out->shape[0] = out->source_shape[0] = sources[k].rows;
}

int fuse_proj_load(mlcc_model *m, int i, fuse_proj_load_fn load_one, void *ctx) {
    const model_param *p = &m->params.items[i];
    int j = p->partner, own[2] = {i, j}, n = j >= 0 ? 2 : 1;
    fuse_part parts[FUSE_PROJ_MAX_PARTS];
    int nparts = fuse_proj_parts(&m->cfg, p->source, parts);
    int64_t total = 0;
    for (int k = 0; k < nparts; k++) total += parts[k].rows;
    if (!nparts || total != p->shape[0]) return mlcc_set_error("parameter '%s' is not a combined projection", p->name);
    for (int s = 0; s < n; s++) {
        m->weights[own[s]] = model_new_weight(m, own[s]);
    }
    int64_t row = 0;
    int rc = 0;
    for (int k = 0; k < nparts && rc == 0; k++) {
        model_param sub_params[2];
        char names[2][256], sources[2][256];
        for (int s = 0; s < n; s++) {
            part_param(&m->cfg, &m->params.items[own[s]], k, &sub_params[s], names[s], sources[s]);
            sub_params[s].partner = n == 2 ? 1 - s : -1;
        }
        MLCCNDArray *loaded[2] = {NULL, NULL};
        mlcc_model sub = *m;
        sub.params.items = sub_params, sub.params.n = sub.params.cap = n;
        sub.weights = loaded;
        sub.weight_arena = NULL, sub.weight_offsets = NULL; /* the parts are copied, then released */
        rc = load_one(&sub, 0, ctx);
        for (int s = 0; s < n && rc == 0; s++) {
            MLCCNDArray *dst = m->weights[own[s]];
            size_t bytes = row_bytes(dst);
            if (!loaded[s] || row_bytes(loaded[s]) != bytes || loaded[s]->dl.shape[0] != parts[k].rows)
                rc = mlcc_set_error("%s: the loaded part has another layout than its combined parameter", sub_params[s].name);
            else memcpy((char *)dst->dl.data + (size_t)row * bytes, loaded[s]->dl.data, bytes * (size_t)parts[k].rows);
        }
        for (int s = 0; s < 2; s++) mlcc_ndarray_release(loaded[s]);
        row += parts[k].rows;
    }
    return rc;
}
