/* plan.c - serving modes (issue 11, as MLC LLM's): from the model's shape, the bounds asked for
 * and the memory this machine has free, the library bounds and KV cache capacity of
 *   interactive  one conversation: batch 1, KV for one context window;
 *   local        a few concurrent requests: batch 4, KV for up to 4 windows;
 *   server       as many as memory allows: KV takes the memory budget (up to 64 windows),
 *                batch grows with it (up to 64).
 * The budget is 80% of what is free after the weights and a 256 MB margin (host memory, or a
 * CUDA device's free memory when the model runs there: mlcc_plan_memory); a KV cache smaller
 * than one context window shrinks the window. Explicit options override the mode's choices. */
#include "models/model.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "quant/scheme.h"
#include "support/error.h"

/* MemAvailable from /proc/meminfo, else free physical pages. */
static double available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        long long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
        fclose(f);
        if (kb > 0) return (double)kb * 1024.0;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (double)pages * (double)size : 4e9;
}

/* Bytes of one matrix weight under the scheme: packed bits plus a scale per group. */
static double bytes_per_weight(const char *quantization) {
    const mlcc_quant_scheme *q = quant_scheme_find(quantization);
    if (!q) return 4.0;
    if (quant_is_mixed(q)) return 4.85 / 8; /* ~ llama.cpp's Q4_K_M; the file's size decides in practice */
    if (quant_is_kquant(q)) return (quant_kquant_words(q->ggml_type) * 4.0 + 2.0 * quant_kquant_halves(q->ggml_type)) / 256;
    if (!q->bits) return q->weight_dtype.bits / 8.0;
    return q->bits / 8.0 + (q->scale_dtype.bits / 8.0) * (q->group_zero ? 2 : 1) / q->group_size;
}

static double param_bytes(const mlcc_model_config *c, const char *quantization) {
    double attn = (double)c->hidden * (double)(c->heads + 2 * c->kv_heads) * (double)c->head_dim +
                  (double)c->heads * (double)c->head_dim * (double)c->hidden;
    double mlp = 3.0 * (double)c->hidden * (double)c->intermediate;
    double embed = (double)c->vocab * (double)c->hidden * (c->tie_embeddings ? 1 : 2);
    return bytes_per_weight(quantization) * ((double)c->layers * (attn + mlp) + embed);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

int mlcc_plan_serving(const mlcc_model_config *cfg, const mlcc_model_options *opt, const mlcc_plan_memory *mem,
                      mlcc_serving_plan *plan) {
    memset(plan, 0, sizeof *plan);
    const char *mode = opt && opt->mode ? opt->mode : "interactive";
    int interactive = !strcmp(mode, "interactive"), local = !strcmp(mode, "local"), server = !strcmp(mode, "server");
    if (!interactive && !local && !server) return mlcc_set_error("mode '%s': use interactive, local or server", mode);
    snprintf(plan->mode, sizeof plan->mode, "%s", mode);
    double kv_value_bytes = mem && mem->kv_value_bytes > 0 ? mem->kv_value_bytes : 4.0;
    plan->kv_bytes_per_token = 2.0 * (double)cfg->layers * (double)cfg->kv_heads * (double)cfg->head_dim * kv_value_bytes;
    plan->param_bytes = param_bytes(cfg, opt ? opt->quantization : NULL);
    plan->available_bytes = mem ? mem->available_bytes : available_bytes();
    snprintf(plan->memory, sizeof plan->memory, "%s", mem && mem->where[0] ? mem->where : "host");
    double budget = 0.8 * (plan->available_bytes - plan->param_bytes - 256.0 * 1048576.0);
    int64_t budget_tokens = budget > 0 ? (int64_t)(budget / plan->kv_bytes_per_token) : 0;

    int64_t window = opt && opt->max_seq > 0 ? opt->max_seq : interactive ? 4096 : 2048;
    if (window > cfg->max_positions) window = cfg->max_positions;
    int64_t windows = interactive ? 1 : local ? 4 : 64;
    int64_t kv = window * windows;
    if (kv > budget_tokens) kv = budget_tokens;
    if (kv < 256) kv = 256 < window ? 256 : window; /* below this no mode is useful: run anyway */
    if (kv < window) window = kv;
    int64_t batch = interactive ? 1 : local ? 4 : clamp(kv / 512, 1, 64);
    if (opt && opt->max_batch > 0) batch = opt->max_batch;
    plan->context_window = window;
    plan->max_batch = batch;
    plan->prefill_chunk = opt && opt->prefill_chunk > 0 ? opt->prefill_chunk : window < 512 ? window : 512;
    plan->kv_tokens = kv;
    return 0;
}

void mlcc_plan_describe(const mlcc_serving_plan *p, char *out, size_t size) {
    snprintf(out, size,
             "mode %s: context window %lld, max batch %lld, prefill chunk %lld, KV cache %lld tokens (%.1f MB); "
             "%.0f MB of %s memory free, weights %.1f MB",
             p->mode, (long long)p->context_window, (long long)p->max_batch, (long long)p->prefill_chunk,
             (long long)p->kv_tokens, p->kv_tokens * p->kv_bytes_per_token / 1048576.0, p->available_bytes / 1048576.0,
             p->memory[0] ? p->memory : "host", p->param_bytes / 1048576.0);
}
