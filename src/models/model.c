/* model.c - opening a model: config, graph, compilation, weights; running prefill. */
#include "models/model.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>

#include "codegen/build.h"
#include "ir/module.h"
#include "loader/gguf.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/file.h"
#include "support/json.h"

static int is_gguf_file(const char *path) {
    size_t len = strlen(path);
    return len > 5 && strcmp(path + len - 5, ".gguf") == 0;
}

static int read_config(mlcc_model *m, const char *path, int is_gguf) {
    if (is_gguf) {
        mlcc_gguf *g = mlcc_gguf_open(path);
        if (!g) return -1;
        int rc = model_config_from_gguf(g, &m->cfg);
        mlcc_gguf_close(g);
        memset(&m->spec, 0, sizeof m->spec); /* llama */
        return rc;
    }
    struct stat sb;
    if (stat(path, &sb) != 0) return mlcc_set_error("%s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return mlcc_set_error("%s: not a model folder (config.json + safetensors) or a .gguf file", path);
    char *file = mlcc_path_join(path, "config.json");
    json_t *j = mlcc_json_load_file(file);
    int rc = -1;
    if (j && model_config_from_json(j, file, &m->cfg) == 0) {
        const model_arch *arch = model_arch_find(m->cfg.model_type, file);
        memset(&m->spec, 0, sizeof m->spec);
        if (arch && arch->configure(j, file, &m->cfg, &m->spec) == 0) rc = 0;
    }
    json_decref(j);
    free(file);
    return rc;
}

/* Builds the graph (which lists the weights), loads and checks the weights (so a bad file is
 * reported before any compiling), then compiles through the JIT cache. */
static int build_and_load(mlcc_model *m, const char *path, int is_gguf) {
    ir_scope_begin();
    mlcc_ir_module *mod = irmod_new();
    int rc = decoder_build_prefill(mod, &m->cfg, &m->spec, m->max_seq, &m->params);
    if (rc == 0) rc = model_load_weights(m, path, is_gguf);
    if (rc == 0) {
        json_t *meta = json_pack("{s:s}", "model_type", m->cfg.model_type);
        mlcc_build_options opt = {meta, NULL, NULL};
        m->vm = mlcc_build_vm(mod, &opt);
        json_decref(meta);
        if (!m->vm) rc = mlcc_prefix_error("compiling %s", m->path);
    }
    ir_scope_end();
    return rc;
}

mlcc_model *mlcc_model_open(const char *path, const mlcc_model_options *opt) {
    mlcc_model *m = mlcc_xcalloc(1, sizeof *m);
    m->path = mlcc_xstrdup(path);
    int gguf = is_gguf_file(path);
    if (read_config(m, path, gguf)) goto fail;
    m->max_seq = opt && opt->max_seq > 0 ? opt->max_seq : 512;
    if (m->max_seq > m->cfg.max_positions) m->max_seq = m->cfg.max_positions;
    if (build_and_load(m, path, gguf)) goto fail;
    return m;
fail:
    mlcc_model_free(m);
    return NULL;
}

void mlcc_model_free(mlcc_model *m) {
    if (!m) return;
    if (m->weights)
        for (int i = 0; i < m->params.n; i++) mlcc_ndarray_release(m->weights[i]);
    free(m->weights);
    model_param_list_free(&m->params);
    if (m->vm) mlcc_vm_free(m->vm);
    model_config_free(&m->cfg);
    free(m->path);
    free(m);
}

int mlcc_model_prefill(mlcc_model *m, const int32_t *ids, int64_t n, MLCCNDArray **logits) {
    *logits = NULL;
    if (n < 1 || n > m->max_seq)
        return mlcc_set_error("prefill: %lld tokens (this model was compiled for 1..%lld)", (long long)n, (long long)m->max_seq);
    for (int64_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->cfg.vocab)
            return mlcc_set_error("prefill: token %lld (id %d) is outside the vocabulary of %lld", (long long)i, ids[i],
                                  (long long)m->cfg.vocab);
    MLCCNDArray *in = mlcc_ndarray_empty(1, &n, MLCC_DTYPE_I32, MLCC_CPU);
    memcpy(in->dl.data, ids, sizeof(int32_t) * (size_t)n);
    int nargs = 1 + m->params.n;
    MLCCValue *args = mlcc_xmalloc(sizeof(MLCCValue) * (size_t)nargs);
    int *codes = mlcc_xmalloc(sizeof(int) * (size_t)nargs);
    args[0].v_handle = in, codes[0] = MLCC_TYPE_OBJECT;
    for (int i = 0; i < m->params.n; i++) args[1 + i].v_handle = m->weights[i], codes[1 + i] = MLCC_TYPE_OBJECT;
    MLCCValue ret;
    int code;
    int rc = mlcc_vm_invoke(m->vm, "prefill", args, codes, nargs, &ret, &code);
    free(args);
    free(codes);
    mlcc_ndarray_release(in);
    if (rc) return mlcc_prefix_error("prefill");
    if (code != MLCC_TYPE_OBJECT) {
        mlcc_value_release(ret, code);
        return mlcc_set_error("prefill: did not return a tensor");
    }
    *logits = ret.v_handle;
    return 0;
}

static int32_t argmax_row(const float *row, int64_t vocab) {
    int64_t best = 0;
    for (int64_t v = 1; v < vocab; v++)
        if (row[v] > row[best]) best = v;
    return (int32_t)best;
}

int mlcc_model_greedy(mlcc_model *m, const int32_t *prompt, int64_t n, int steps, int32_t *out) {
    int32_t *seq = mlcc_xmalloc(sizeof(int32_t) * (size_t)(n + steps));
    memcpy(seq, prompt, sizeof(int32_t) * (size_t)n);
    int rc = 0;
    for (int s = 0; s < steps && rc == 0; s++) {
        MLCCNDArray *logits;
        rc = mlcc_model_prefill(m, seq, n + s, &logits);
        if (rc) break;
        const float *last = (const float *)logits->dl.data + (n + s - 1) * m->cfg.vocab;
        out[s] = seq[n + s] = argmax_row(last, m->cfg.vocab);
        mlcc_ndarray_release(logits);
    }
    free(seq);
    return rc;
}
