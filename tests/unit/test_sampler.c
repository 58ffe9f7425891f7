/* test_sampler.c - the sampler against exact distributions computed here in float64: greedy,
 * temperature, top_k, top_p, min_p (empirical frequencies of 200k seeded draws within 0.006 of
 * the renormalized probabilities), penalties by their definitions, logit_bias, seeded
 * reproducibility, parameter checks and the reported log probability; and the helpers a GPU
 * sampler uses (peeking the uniform, a given uniform, penalty lists). */
#include <math.h>
#include <string.h>

#include "engine/sampler.h"
#include "test.h"

enum { V = 8, DRAWS = 200000 };
static const float base_logits[V] = {2.0f, 1.5f, 1.4f, 0.3f, -0.5f, -1.0f, 0.9f, -3.0f};

/* The expected distribution: softmax(logits / t), filtered by the rules, renormalized. */
static void expected(const float *logits, double t, int top_k, double top_p, double min_p, double *out) {
    int order[V];
    for (int i = 0; i < V; i++) order[i] = i;
    for (int i = 0; i < V; i++) /* selection sort, descending */
        for (int j = i + 1; j < V; j++)
            if (logits[order[j]] > logits[order[i]]) {
                int x = order[i];
                order[i] = order[j];
                order[j] = x;
            }
    double p[V], total = 0;
    for (int i = 0; i < V; i++) total += p[i] = exp(logits[order[i]] / t);
    for (int i = 0; i < V; i++) p[i] /= total;
    int n = V;
    if (top_k > 0 && top_k < n) n = top_k;
    total = 0;
    for (int i = 0; i < n; i++) total += p[i];
    for (int i = 0; i < n; i++) p[i] /= total;
    if (top_p < 1) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += p[i];
            if (cum >= top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (min_p > 0) {
        int keep = 1;
        while (keep < n && p[keep] >= min_p * p[0]) keep++;
        n = keep;
    }
    total = 0;
    for (int i = 0; i < n; i++) total += p[i];
    for (int i = 0; i < V; i++) out[i] = 0;
    for (int i = 0; i < n; i++) out[order[i]] = p[i] / total;
}

static void check_distribution(const char *what, float t, int top_k, float top_p, float min_p) {
    mlcc_sampler *s = mlcc_sampler_new(1234);
    mlcc_sampling_params p = mlcc_sampling_defaults();
    p.temperature = t;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    long counts[V] = {0};
    for (int d = 0; d < DRAWS; d++) {
        float logits[V];
        memcpy(logits, base_logits, sizeof logits);
        counts[mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, NULL)]++;
    }
    double want[V], worst = 0;
    expected(base_logits, t, top_k, top_p, min_p, want);
    for (int i = 0; i < V; i++) {
        double got = (double)counts[i] / DRAWS;
        worst = fmax(worst, fabs(got - want[i]));
        if (want[i] == 0) CHECK_MSG(counts[i] == 0, "%s: token %d drawn %ld times but filtered out", what, i, counts[i]);
    }
    CHECK_MSG(worst < 0.006, "%s: frequencies differ from the distribution by %g", what, worst);
    mlcc_sampler_free(s);
}

static void test_greedy(void) {
    mlcc_sampler *s = mlcc_sampler_new(1);
    mlcc_sampling_params p = mlcc_sampling_defaults();
    p.temperature = 0;
    float logits[V];
    memcpy(logits, base_logits, sizeof logits);
    CHECK_EQ_INT(mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, NULL), 0);
    float tie[4] = {1, 3, 3, 2};
    CHECK_EQ_INT(mlcc_sample(s, tie, 4, &p, NULL, 0, NULL, 0, NULL), 1); /* lowest id wins a tie */
    p.temperature = 0.7f;
    p.top_k = 1;
    memcpy(logits, base_logits, sizeof logits);
    CHECK_EQ_INT(mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, NULL), 0);
    mlcc_sampler_free(s);
}

static void test_penalties(void) {
    mlcc_sampler *s = mlcc_sampler_new(1);
    mlcc_sampling_params p = mlcc_sampling_defaults();
    p.temperature = 0;
    p.repetition_penalty = 2.0f;
    float logits[V];
    memcpy(logits, base_logits, sizeof logits);
    int32_t prompt[] = {0, 0, 4};
    mlcc_sample(s, logits, V, &p, prompt, 3, NULL, 0, NULL);
    CHECK_NEAR(logits[0], 1.0, 1e-6);  /* positive: divided once, however often it occurred */
    CHECK_NEAR(logits[4], -1.0, 1e-6); /* negative: multiplied */
    CHECK_NEAR(logits[1], 1.5, 1e-6);  /* untouched */

    p = mlcc_sampling_defaults();
    p.temperature = 0;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    memcpy(logits, base_logits, sizeof logits);
    int32_t out[] = {1, 1, 1, 6};
    CHECK_EQ_INT(mlcc_sample(s, logits, V, &p, NULL, 0, out, 4, NULL), 0);
    CHECK_NEAR(logits[1], 1.5 - 3 * 0.25 - 0.5, 1e-6);
    CHECK_NEAR(logits[6], 0.9 - 0.25 - 0.5, 1e-6);
    CHECK_NEAR(logits[2], 1.4, 1e-6);

    p = mlcc_sampling_defaults();
    p.temperature = 0;
    int32_t ids[] = {7};
    float vals[] = {10.0f};
    p.bias_ids = ids;
    p.bias_values = vals;
    p.nbias = 1;
    memcpy(logits, base_logits, sizeof logits);
    CHECK_EQ_INT(mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, NULL), 7);
    mlcc_sampler_free(s);
}

static void test_seed_and_logprob(void) {
    mlcc_sampling_params p = mlcc_sampling_defaults();
    p.temperature = 1.3f;
    int32_t a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        mlcc_sampler *s = mlcc_sampler_new(run == 2 ? 43 : 42);
        for (int i = 0; i < 64; i++) {
            float logits[V];
            memcpy(logits, base_logits, sizeof logits);
            int32_t t = mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, NULL);
            (run == 0 ? a : run == 1 ? b : c)[i] = t;
        }
        mlcc_sampler_free(s);
    }
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);

    mlcc_sampler *s = mlcc_sampler_new(5);
    float logits[V];
    memcpy(logits, base_logits, sizeof logits);
    double lp;
    int32_t t = mlcc_sample(s, logits, V, &p, NULL, 0, NULL, 0, &lp);
    double total = 0;
    for (int i = 0; i < V; i++) total += exp((double)base_logits[i]);
    CHECK_NEAR(lp, (double)base_logits[t] - log(total), 1e-9);
    mlcc_sampler_free(s);
}

static void test_param_checks(void) {
    mlcc_sampling_params p = mlcc_sampling_defaults();
    CHECK(mlcc_sampling_params_check(&p, V) == NULL);
    p.top_p = 0;
    CHECK(strstr(mlcc_sampling_params_check(&p, V), "top_p") != NULL);
    p = mlcc_sampling_defaults();
    p.temperature = -1;
    CHECK(strstr(mlcc_sampling_params_check(&p, V), "temperature") != NULL);
    p = mlcc_sampling_defaults();
    int32_t ids[] = {V};
    float vals[] = {1};
    p.bias_ids = ids;
    p.bias_values = vals;
    p.nbias = 1;
    CHECK(strstr(mlcc_sampling_params_check(&p, V), "logit_bias") != NULL);
}

/* What a GPU sampler relies on: peeking the next uniform takes nothing; a given uniform picks
 * what the generator's would; the penalty lists (distinct ids, counts in the output) stand for
 * the token lists they came from. */
static void test_device_helpers(void) {
    mlcc_sampler *s = mlcc_sampler_new(42), *t = mlcc_sampler_new(42), *scratch = mlcc_sampler_new(0);
    double u = mlcc_sampler_peek_uniform(s);
    CHECK(u == mlcc_sampler_peek_uniform(s));
    CHECK(u == mlcc_sampler_uniform(s));
    CHECK(mlcc_sampler_peek_uniform(s) != u);
    const float temps[] = {0, 0.7f, 1.0f}, topps[] = {1.0f, 0.8f};
    const int topks[] = {0, 1, 3};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 3; b++)
            for (int c = 0; c < 2; c++)
                for (int rep = 0; rep < 40; rep++) {
                    mlcc_sampling_params p = mlcc_sampling_defaults();
                    p.temperature = temps[a], p.top_k = topks[b], p.top_p = topps[c];
                    float x[V], y[V];
                    memcpy(x, base_logits, sizeof x);
                    memcpy(y, base_logits, sizeof y);
                    double next = mlcc_sampler_peek_uniform(t), lp1, lp2;
                    int drew;
                    int32_t want = mlcc_sample(t, x, V, &p, NULL, 0, NULL, 0, &lp1);
                    int32_t got = mlcc_sample_with_uniform(scratch, y, V, &p, NULL, 0, NULL, 0, next, &drew, &lp2);
                    CHECK_EQ_INT(got, want);
                    CHECK(lp1 == lp2);
                    CHECK_EQ_INT(drew, p.temperature > 0 && p.top_k != 1);
                }
    float inf_row[V];
    for (int i = 0; i < V; i++) inf_row[i] = -INFINITY;
    mlcc_sampling_params p = mlcc_sampling_defaults();
    int drew = -1;
    CHECK_EQ_INT(mlcc_sample_with_uniform(scratch, inf_row, V, &p, NULL, 0, NULL, 0, 0.5, &drew, NULL), 0);
    CHECK_EQ_INT(drew, 0); /* nothing to draw from: the arg-max, no uniform used */

    /* penalty lists */
    const int32_t prompt[] = {1, 2, 2, 9, -1}, output[] = {2, 3, 3, 3, 100};
    int32_t ids[10], counts[10];
    p = mlcc_sampling_defaults();
    CHECK_EQ_INT((int)mlcc_penalty_counts(&p, V, prompt, 5, output, 5, ids, counts), 0); /* no penalty on */
    p.presence_penalty = 0.5f;
    size_t n = mlcc_penalty_counts(&p, V, prompt, 5, output, 5, ids, counts); /* the output's ids only */
    CHECK_EQ_INT((int)n, 2);
    CHECK(n == 2 && ids[0] == 2 && counts[0] == 1 && ids[1] == 3 && counts[1] == 3);
    p.repetition_penalty = 1.5f;
    n = mlcc_penalty_counts(&p, V, prompt, 5, output, 5, ids, counts); /* 1, 2, 3 (9, -1, 100: outside) */
    CHECK_EQ_INT((int)n, 3);
    CHECK(n == 3 && ids[0] == 1 && counts[0] == 0 && ids[1] == 2 && counts[1] == 1 && ids[2] == 3 && counts[2] == 3);
    /* the lists, as a prompt of distinct ids and an output of repeats, give the same processed row */
    p.frequency_penalty = 0.3f, p.temperature = 0;
    int32_t lp[10], lo[10];
    size_t np = 0, no = 0;
    for (size_t i = 0; i < n; i++) {
        lp[np++] = ids[i];
        for (int k = 0; k < counts[i]; k++) lo[no++] = ids[i];
    }
    float a[V], b[V];
    for (int i = 0; i < V; i++) a[i] = b[i] = (float)(i % 3) - 0.4f;
    mlcc_sample(scratch, a, V, &p, prompt, 5, output, 5, NULL);
    mlcc_sample(scratch, b, V, &p, lp, np, lo, no, NULL);
    CHECK(memcmp(a, b, sizeof a) == 0);
    mlcc_sampler_free(s);
    mlcc_sampler_free(t);
    mlcc_sampler_free(scratch);
}

int main(void) {
    test_greedy();
    check_distribution("temperature 1", 1.0f, 0, 1.0f, 0);
    check_distribution("temperature 0.6", 0.6f, 0, 1.0f, 0);
    check_distribution("top_k 3", 1.0f, 3, 1.0f, 0);
    check_distribution("top_p 0.8", 1.0f, 0, 0.8f, 0);
    check_distribution("top_p 0.8 top_k 4 t 1.5", 1.5f, 4, 0.8f, 0);
    check_distribution("min_p 0.3", 1.0f, 0, 1.0f, 0.3f);
    test_penalties();
    test_seed_and_logprob();
    test_param_checks();
    test_device_helpers();
    return test_finish();
}
