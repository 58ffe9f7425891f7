/* test_model_bounds.c - one model library serves every length up to its bounds: after the first
 * build, opening the same model again and running prefill at lengths 1, 17, 33 and the bound
 * invoke the C compiler zero times (the JIT cache's counters), the outputs keep their shapes, and
 * a prompt past the bound is a clear error rather than a recompile or an overflow. */
#include "codegen/jit.h"
#include "models/model.h"
#include "support/error.h"
#include "test.h"

enum { BOUND = 64 };

int main(void) {
    char *path = test_data_path("hf-tiny/llama");
    mlcc_model_options opt = {.max_seq = BOUND, .logit_rows = BOUND};
    mlcc_model *first = mlcc_model_open(path, &opt);
    CHECK_MSG(first != NULL, "%s", mlcc_last_error());
    mlcc_model_free(first);

    mlcc_jit_stats before = mlcc_jit_get_stats();
    mlcc_model *m = mlcc_model_open(path, &opt);
    CHECK_MSG(m != NULL, "%s", mlcc_last_error());
    if (m) {
        int32_t ids[BOUND + 1];
        for (int i = 0; i <= BOUND; i++) ids[i] = (int32_t)((i * 37 + 11) % m->cfg.vocab);
        int64_t lengths[] = {1, 17, 33, BOUND};
        for (int k = 0; k < 4; k++) {
            MLCCNDArray *logits = NULL;
            int rc = mlcc_model_prefill(m, ids, lengths[k], &logits);
            CHECK_MSG(rc == 0, "n=%lld: %s", (long long)lengths[k], mlcc_last_error());
            if (rc == 0) {
                CHECK_EQ_INT(logits->dl.shape[0], lengths[k]);
                CHECK_EQ_INT(logits->dl.shape[1], m->cfg.vocab);
                mlcc_ndarray_release(logits);
            }
        }
        MLCCNDArray *logits = NULL;
        CHECK(mlcc_model_prefill(m, ids, BOUND + 1, &logits) != 0);
        CHECK_MSG(strlen(mlcc_last_error()) > 0, "no message for a prompt past the bound");
        mlcc_jit_stats after = mlcc_jit_get_stats();
        CHECK_EQ_INT(after.compiles, before.compiles);
        CHECK(after.cache_hits > before.cache_hits);
        mlcc_model_free(m);
    }
    free(path);
    return test_finish();
}
