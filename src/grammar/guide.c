/* guide.c - the engine's per-request grammar helper (see guide.h). */
#include "grammar/guide.h"

#include <stdlib.h>

#include "support/alloc.h"
#include "support/error.h"

struct mlcc_grammar_guide {
    mlcc_grammar_matcher *m;
    mlcc_grammar_vocab *v;
    uint32_t *mask;
    size_t words;
};

mlcc_grammar_guide *mlcc_grammar_guide_new(const mlcc_grammar *g, mlcc_grammar_vocab *v) {
    mlcc_grammar_guide *gd = mlcc_xcalloc(1, sizeof *gd);
    /* the matcher only adds to the grammar's mask cache, under its lock */
    gd->m = mlcc_grammar_matcher_new((mlcc_grammar *)g, v);
    gd->v = v;
    gd->words = mlcc_grammar_mask_words(v);
    gd->mask = mlcc_xmalloc(gd->words * sizeof(uint32_t));
    return gd;
}

void mlcc_grammar_guide_free(mlcc_grammar_guide *gd) {
    if (!gd) return;
    mlcc_grammar_matcher_free(gd->m);
    free(gd->mask);
    free(gd);
}

int mlcc_grammar_guide_mask(mlcc_grammar_guide *gd, float *logits, int nlogits) {
    mlcc_grammar_fill_next_token_bitmask(gd->m, gd->mask);
    int any = 0;
    for (size_t w = 0; w < gd->words && !any; w++) any = gd->mask[w] != 0;
    if (!any) return mlcc_set_error("grammar: no token of the vocabulary can continue the output");
    mlcc_grammar_apply_bitmask(logits, nlogits, gd->mask, mlcc_grammar_vocab_size(gd->v));
    return 0;
}

int mlcc_grammar_guide_accept(mlcc_grammar_guide *gd, int32_t token) {
    if (mlcc_grammar_accept_token(gd->m, token)) return -1;
    return mlcc_grammar_is_terminated(gd->m) ? 1 : 0;
}
