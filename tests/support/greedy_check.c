/* greedy_check.c - device greedy sampling against the host sampler (see greedy_check.h). */
#include "greedy_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/sampler.h"
#include "tensor_util.h"
#include "test.h"

float *test_greedy_rows(int64_t rows, int64_t vocab, int special, int64_t skip) {
    int64_t n = (rows + skip) * vocab;
    float *all = malloc(sizeof(float) * (size_t)n), *logits = all + skip * vocab;
    for (int64_t i = 0; i < n; i++) all[i] = 8 * test_rand_float();
    for (int64_t r = 0; r < rows && special; r++) {
        float *row = logits + r * vocab;
        switch (r % 4) {
        case 0: row[vocab / 3] = row[vocab - 1] = 100; break;             /* a tie: the first wins */
        case 1: for (int64_t i = 0; i < vocab; i += 2) row[i] = -INFINITY; break;
        case 2: row[0] = NAN, row[vocab / 2] = 50; break;                 /* NaN loses */
        default: break;
        }
    }
    return all;
}

double test_check_greedy(float *logits, int64_t rows, int64_t vocab, const int32_t *ids, const double *lps,
                         const char *device) {
    mlcc_sampling_params p = mlcc_sampling_defaults();
    p.temperature = 0;
    mlcc_sampler *s = mlcc_sampler_new(1);
    int bad = 0;
    double worst = 0;
    for (int64_t r = 0; r < rows; r++) {
        float *row = logits + r * vocab;
        int32_t want = mlcc_sample(s, row, (int)vocab, &p, NULL, 0, NULL, 0, NULL);
        double want_lp = mlcc_log_softmax_at(row, (int)vocab, want);
        if (ids[r] != want && bad++ < 5)
            printf("row %lld (of %lld x %lld): %s %d, host %d\n", (long long)r, (long long)rows, (long long)vocab, device, ids[r], want);
        if (isnan(want_lp)) continue; /* a NaN in the row: the host's sum is NaN too */
        double e = fabs(lps[r] - want_lp);
        if (!(e <= worst)) worst = e;
    }
    CHECK_MSG(bad == 0, "%d rows chose another token", bad);
    CHECK_MSG(worst <= 1e-4, "%lld x %lld: log probability off by %g", (long long)rows, (long long)vocab, worst);
    mlcc_sampler_free(s);
    return worst;
}
