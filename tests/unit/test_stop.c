/* test_stop.c - stop strings over streamed text: for seeded random texts, stop sets and ways of
 * cutting the text into pieces, the emitted text equals the text up to the earliest stop match
 * (computed directly on the whole string), and no emitted prefix ever ends inside a stop string
 * that later completes. */
#include <stdint.h>

#include "engine/stop.h"
#include "test.h"

static size_t reference_cut(const char *text, const char *const *stops, int n, int *which) {
    size_t best = strlen(text);
    *which = -1;
    for (int i = 0; i < n; i++) {
        if (!stops[i][0]) continue;
        const char *hit = strstr(text, stops[i]);
        if (hit && (size_t)(hit - text) < best) best = (size_t)(hit - text), *which = i;
    }
    return best;
}

int main(void) {
    uint64_t s = 99;
    const char alphabet[] = "ab<|>\xc3\xa9 ";
    for (int trial = 0; trial < 3000; trial++) {
        char text[64];
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        int len = (int)((s >> 33) % 40);
        for (int i = 0; i < len; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            text[i] = alphabet[(s >> 33) % (sizeof alphabet - 1)];
        }
        text[len] = '\0';
        char stop_buf[3][8];
        const char *stops[3];
        int nstops = 1 + trial % 3;
        for (int k = 0; k < nstops; k++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int sl = 1 + (int)((s >> 33) % 4);
            for (int i = 0; i < sl; i++) {
                s = s * 6364136223846793005ull + 1442695040888963407ull;
                stop_buf[k][i] = alphabet[(s >> 33) % 5];
            }
            stop_buf[k][sl] = '\0';
            stops[k] = stop_buf[k];
        }
        int which;
        size_t cut = reference_cut(text, stops, nstops, &which);

        mlcc_stop_matcher m;
        mlcc_stop_init(&m, stops, nstops);
        mlcc_strbuf out = STRBUF_INIT;
        int stopped = 0;
        for (int pos = 0; pos < len && !stopped;) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            int piece = 1 + (int)((s >> 33) % 5);
            if (pos + piece > len) piece = len - pos;
            stopped = mlcc_stop_feed(&m, text + pos, (size_t)piece, &out);
            /* what is out so far is a prefix of the final answer */
            if (out.len > cut || memcmp(sb_cstr(&out), text, out.len) != 0) {
                CHECK_MSG(0, "trial %d: emitted text beyond the stop", trial);
                break;
            }
            pos += piece;
        }
        if (!stopped) mlcc_stop_flush(&m, &out);
        CHECK_EQ_INT(stopped, which >= 0);
        CHECK_EQ_INT(out.len, cut);
        CHECK(memcmp(sb_cstr(&out), text, cut) == 0);
        if (which >= 0) CHECK_EQ_INT(m.matched >= 0, 1);
        sb_free(&out);
        mlcc_stop_free(&m);
    }
    return test_finish();
}
