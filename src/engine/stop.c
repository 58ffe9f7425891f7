/* stop.c - stop strings over streamed text (see stop.h). */
#include "engine/stop.h"

#include <stdlib.h>
#include <string.h>

#include "support/alloc.h"

void mlcc_stop_init(mlcc_stop_matcher *m, const char *const *stops, int nstops) {
    memset(m, 0, sizeof *m);
    m->matched = -1;
    m->stops = mlcc_xcalloc((size_t)(nstops > 0 ? nstops : 1), sizeof(char *));
    for (int i = 0; i < nstops; i++)
        if (stops[i] && stops[i][0]) m->stops[m->nstops++] = mlcc_xstrdup(stops[i]);
}

void mlcc_stop_free(mlcc_stop_matcher *m) {
    for (int i = 0; i < m->nstops; i++) free(m->stops[i]);
    free(m->stops);
    sb_free(&m->pending);
}

/* Length of the longest suffix of text[0..len) that is a proper prefix of some stop string. */
static size_t held_suffix(const mlcc_stop_matcher *m, const char *text, size_t len) {
    size_t best = 0;
    for (int i = 0; i < m->nstops; i++) {
        size_t sl = strlen(m->stops[i]);
        size_t max = sl - 1 < len ? sl - 1 : len;
        for (size_t k = max; k > best; k--)
            if (memcmp(text + len - k, m->stops[i], k) == 0) {
                best = k;
                break;
            }
    }
    return best;
}

int mlcc_stop_feed(mlcc_stop_matcher *m, const char *text, size_t len, mlcc_strbuf *out) {
    if (m->stopped) return 1;
    sb_append_n(&m->pending, text, len);
    const char *buf = sb_cstr(&m->pending);
    size_t n = m->pending.len;
    /* earliest complete match wins */
    size_t first = n;
    for (int i = 0; i < m->nstops; i++) {
        const char *hit = memmem(buf, n, m->stops[i], strlen(m->stops[i]));
        if (hit && (size_t)(hit - buf) < first) {
            first = (size_t)(hit - buf);
            m->matched = i;
        }
    }
    if (first < n) {
        sb_append_n(out, buf, first);
        sb_clear(&m->pending);
        m->stopped = 1;
        return 1;
    }
    size_t keep = held_suffix(m, buf, n);
    sb_append_n(out, buf, n - keep);
    memmove(m->pending.data, m->pending.data + (n - keep), keep);
    m->pending.len = keep;
    if (m->pending.data) m->pending.data[keep] = '\0';
    return 0;
}

void mlcc_stop_flush(mlcc_stop_matcher *m, mlcc_strbuf *out) {
    if (!m->stopped && m->pending.len) sb_append_n(out, m->pending.data, m->pending.len);
    sb_clear(&m->pending);
}
