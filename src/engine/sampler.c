/* sampler.c - next-token selection (see sampler.h). */
#include "engine/sampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

struct mlcc_sampler {
    uint64_t state[4];
    int32_t *order; /* scratch: candidate ids */
    double *probs;  /* scratch: their probabilities */
    int cap;
};

mlcc_sampling_params mlcc_sampling_defaults(void) {
    mlcc_sampling_params p = {0};
    p.temperature = 1.0f;
    p.top_p = 1.0f;
    p.repetition_penalty = 1.0f;
    return p;
}

const char *mlcc_sampling_params_check(const mlcc_sampling_params *p, int vocab_size) {
    if (!(p->temperature >= 0) || p->temperature > 100) return "temperature must be in [0, 100]";
    if (!(p->top_p > 0) || p->top_p > 1) return "top_p must be in (0, 1]";
    if (p->top_k < 0) return "top_k must be >= 0";
    if (!(p->min_p >= 0) || p->min_p > 1) return "min_p must be in [0, 1]";
    if (!(p->repetition_penalty > 0)) return "repetition_penalty must be > 0";
    if (!(p->presence_penalty >= -2 && p->presence_penalty <= 2)) return "presence_penalty must be in [-2, 2]";
    if (!(p->frequency_penalty >= -2 && p->frequency_penalty <= 2)) return "frequency_penalty must be in [-2, 2]";
    for (int i = 0; i < p->nbias; i++)
        if (p->bias_ids[i] < 0 || p->bias_ids[i] >= vocab_size) return "logit_bias has a token id outside the vocabulary";
    return NULL;
}

/* ---- xoshiro256** seeded through splitmix64 ---- */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

static uint64_t next_u64(mlcc_sampler *s) {
    uint64_t *st = s->state;
    uint64_t result = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return result;
}

void mlcc_sampler_reseed(mlcc_sampler *s, uint64_t seed) {
    for (int i = 0; i < 4; i++) s->state[i] = splitmix64(&seed);
}

mlcc_sampler *mlcc_sampler_new(uint64_t seed) {
    mlcc_sampler *s = mlcc_xcalloc(1, sizeof *s);
    mlcc_sampler_reseed(s, seed);
    return s;
}

void mlcc_sampler_free(mlcc_sampler *s) {
    if (!s) return;
    free(s->order);
    free(s->probs);
    free(s);
}

double mlcc_sampler_uniform(mlcc_sampler *s) {
    return (double)(next_u64(s) >> 11) * (1.0 / 9007199254740992.0);
}

double mlcc_sampler_peek_uniform(const mlcc_sampler *s) {
    mlcc_sampler copy = *s;
    return mlcc_sampler_uniform(&copy);
}

size_t mlcc_penalty_counts(const mlcc_sampling_params *p, int vocab, const int32_t *prompt, size_t nprompt,
                           const int32_t *output, size_t noutput, int32_t *ids, int32_t *counts) {
    int repetition = p->repetition_penalty != 1.0f, presence = p->presence_penalty != 0 || p->frequency_penalty != 0;
    if (!repetition && !presence) return 0;
    if (!repetition) nprompt = 0;
    size_t total = nprompt + noutput, cap = 16, n = 0;
    while (cap < 2 * total + 2) cap *= 2;
    int32_t *slot = mlcc_xmalloc(sizeof(int32_t) * cap); /* index into ids, or -1 */
    for (size_t i = 0; i < cap; i++) slot[i] = -1;
    for (size_t i = 0; i < total; i++) {
        int in_output = i >= nprompt;
        int32_t t = in_output ? output[i - nprompt] : prompt[i];
        if (t < 0 || t >= vocab) continue;
        size_t h = ((uint32_t)t * 2654435761u) & (cap - 1);
        while (slot[h] != -1 && ids[slot[h]] != t) h = (h + 1) & (cap - 1);
        if (slot[h] == -1) {
            slot[h] = (int32_t)n;
            ids[n] = t;
            counts[n++] = 0;
        }
        counts[slot[h]] += in_output;
    }
    free(slot);
    return n;
}

double mlcc_log_softmax_at(const float *logits, int vocab, int32_t id) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < vocab; i++) mx = fmax(mx, logits[i]);
    if (isinf(mx)) return -INFINITY;
    for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
    return (double)logits[id] - mx - log(sum);
}

/* ---- logits processors ---- */

static void apply_repetition_penalty(float *logits, int vocab, float penalty, const int32_t *ids, size_t n,
                                     unsigned char *seen) {
    for (size_t i = 0; i < n; i++) {
        int32_t t = ids[i];
        if (t < 0 || t >= vocab || seen[t]) continue;
        seen[t] = 1;
        logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
    }
}

static void apply_presence_frequency(float *logits, int vocab, const mlcc_sampling_params *p,
                                     const int32_t *output, size_t n) {
    /* counts through a small open-addressing table: output is short next to the vocabulary */
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    int32_t *keys = mlcc_xmalloc(sizeof(int32_t) * cap);
    int *counts = mlcc_xcalloc(cap, sizeof(int));
    for (size_t i = 0; i < cap; i++) keys[i] = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t t = output[i];
        if (t < 0 || t >= vocab) continue;
        size_t h = ((uint32_t)t * 2654435761u) & (cap - 1);
        while (keys[h] != -1 && keys[h] != t) h = (h + 1) & (cap - 1);
        keys[h] = t;
        counts[h]++;
    }
    for (size_t h = 0; h < cap; h++)
        if (keys[h] >= 0) logits[keys[h]] -= p->frequency_penalty * (float)counts[h] + p->presence_penalty;
    free(keys);
    free(counts);
}

static int32_t argmax(const float *logits, int vocab) {
    int32_t best = 0;
    for (int i = 1; i < vocab; i++)
        if (logits[i] > logits[best] || (isnan(logits[best]) && !isnan(logits[i]))) best = i;
    return best;
}

static void ensure_scratch(mlcc_sampler *s, int vocab) {
    if (s->cap >= vocab) return;
    s->order = mlcc_xrealloc(s->order, sizeof(int32_t) * (size_t)vocab);
    s->probs = mlcc_xrealloc(s->probs, sizeof(double) * (size_t)vocab);
    s->cap = vocab;
}

/* Candidate ids by logit, descending (ties by id); qsort_r keeps it reentrant across threads. */
static int by_logit_desc_r(const void *a, const void *b, void *ctx) {
    const float *l = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (l[x] != l[y]) return l[x] > l[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

/* The draw's uniform: the given one (a caller replaying a GPU step's), else the generator's. */
static double take_uniform(mlcc_sampler *s, const double *given, int *drew) {
    if (drew) *drew = 1;
    return given ? *given : mlcc_sampler_uniform(s);
}

static int32_t sample(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p, const int32_t *prompt,
                      size_t nprompt, const int32_t *output, size_t noutput, double *logprob, const double *given,
                      int *drew) {
    int32_t chosen;
    double raw_logprob_base = 0;
    if (drew) *drew = 0;
    /* the unprocessed distribution, for the reported log probability */
    double mx = -INFINITY, sum = 0;
    if (logprob) {
        for (int i = 0; i < vocab; i++) mx = fmax(mx, logits[i]);
        for (int i = 0; i < vocab; i++) sum += exp((double)logits[i] - mx);
        raw_logprob_base = mx + log(sum);
    }
    float *raw = NULL;
    if (logprob) {
        raw = mlcc_xmalloc(sizeof(float) * (size_t)vocab);
        memcpy(raw, logits, sizeof(float) * (size_t)vocab);
    }

    for (int i = 0; i < p->nbias; i++)
        if (p->bias_ids[i] >= 0 && p->bias_ids[i] < vocab) logits[p->bias_ids[i]] += p->bias_values[i];
    if (p->repetition_penalty != 1.0f && (nprompt || noutput)) {
        unsigned char *seen = mlcc_xcalloc((size_t)vocab, 1);
        apply_repetition_penalty(logits, vocab, p->repetition_penalty, prompt, nprompt, seen);
        apply_repetition_penalty(logits, vocab, p->repetition_penalty, output, noutput, seen);
        free(seen);
    }
    if ((p->presence_penalty != 0 || p->frequency_penalty != 0) && noutput)
        apply_presence_frequency(logits, vocab, p, output, noutput);

    if (p->temperature <= 0 || p->top_k == 1) {
        chosen = argmax(logits, vocab);
    } else {
        ensure_scratch(s, vocab);
        int n = 0;
        for (int i = 0; i < vocab; i++)
            if (logits[i] > -INFINITY) s->order[n++] = i;
        if (n == 0) {
            chosen = argmax(logits, vocab);
        } else if (p->top_k == 0 && p->top_p >= 1.0f && p->min_p <= 0) {
            /* no filter: draw from the whole distribution without sorting it */
            double top = -INFINITY, total = 0;
            for (int i = 0; i < n; i++) top = fmax(top, (double)logits[s->order[i]] / p->temperature);
            for (int i = 0; i < n; i++) total += s->probs[i] = exp((double)logits[s->order[i]] / p->temperature - top);
            double u = take_uniform(s, given, drew) * total, cum = 0;
            chosen = s->order[n - 1];
            for (int i = 0; i < n; i++) {
                cum += s->probs[i];
                if (u < cum) {
                    chosen = s->order[i];
                    break;
                }
            }
        } else {
            qsort_r(s->order, (size_t)n, sizeof(int32_t), by_logit_desc_r, logits);
            if (p->top_k > 0 && p->top_k < n) n = p->top_k;
            double top = (double)logits[s->order[0]] / p->temperature, total = 0;
            for (int i = 0; i < n; i++) total += s->probs[i] = exp((double)logits[s->order[i]] / p->temperature - top);
            for (int i = 0; i < n; i++) s->probs[i] /= total;
            if (p->top_p < 1.0f) {
                /* the smallest prefix whose mass reaches top_p (at least one token) */
                double cum = 0;
                int keep = n;
                for (int i = 0; i < n; i++) {
                    cum += s->probs[i];
                    if (cum >= p->top_p) {
                        keep = i + 1;
                        break;
                    }
                }
                n = keep;
            }
            if (p->min_p > 0) {
                double threshold = p->min_p * s->probs[0];
                int keep = 1;
                while (keep < n && s->probs[keep] >= threshold) keep++;
                n = keep;
            }
            double mass = 0;
            for (int i = 0; i < n; i++) mass += s->probs[i];
            double u = take_uniform(s, given, drew) * mass, cum = 0;
            chosen = s->order[n - 1];
            for (int i = 0; i < n; i++) {
                cum += s->probs[i];
                if (u < cum) {
                    chosen = s->order[i];
                    break;
                }
            }
        }
    }
    if (logprob) {
        *logprob = (double)raw[chosen] - raw_logprob_base;
        free(raw);
    }
    return chosen;
}

int32_t mlcc_sample(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p, const int32_t *prompt,
                    size_t nprompt, const int32_t *output, size_t noutput, double *logprob) {
    return sample(s, logits, vocab, p, prompt, nprompt, output, noutput, logprob, NULL, NULL);
}

int32_t mlcc_sample_with_uniform(mlcc_sampler *s, float *logits, int vocab, const mlcc_sampling_params *p,
                                 const int32_t *prompt, size_t nprompt, const int32_t *output, size_t noutput,
                                 double uniform, int *drew, double *logprob) {
    return sample(s, logits, vocab, p, prompt, nprompt, output, noutput, logprob, &uniform, drew);
}
