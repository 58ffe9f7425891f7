/* driver.c - runs a libFuzzer-style target without libFuzzer (for gcc builds and ctest).
 *
 * usage: fuzz_X [CORPUS_DIR] - replays every file of the corpus, then runs seeded mutations of
 * them (bit flips, byte changes, inserts, deletes, splices, truncations) for MLCC_FUZZ_ITERS
 * iterations (default 2000) or MLCC_FUZZ_SECONDS (default 20), whichever ends first. Crashes and
 * sanitizer reports fail the test; the iteration number and seed are printed to reproduce. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support/alloc.h"
#include "support/file.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint8_t *data;
    size_t len;
} input;

static uint64_t rng_state;

static uint64_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static input mutate(const input *corpus, size_t n) {
    const input *base = &corpus[next_random() % n];
    size_t cap = base->len * 2 + 64;
    input out = {mlcc_xmalloc(cap), base->len};
    memcpy(out.data, base->data, base->len);
    int rounds = 1 + (int)(next_random() % 8);
    for (int r = 0; r < rounds; r++) {
        size_t pos = out.len ? next_random() % out.len : 0;
        switch (next_random() % 6) {
        case 0: if (out.len) out.data[pos] ^= (uint8_t)(1u << (next_random() % 8)); break;
        case 1: if (out.len) out.data[pos] = (uint8_t)next_random(); break;
        case 2: /* insert a byte */
            if (out.len + 1 < cap) {
                memmove(out.data + pos + 1, out.data + pos, out.len - pos);
                out.data[pos] = (uint8_t)"{}[]\"\\:,0a \n\xff\x00"[next_random() % 15];
                out.len++;
            }
            break;
        case 3: /* delete a run */
            if (out.len) {
                size_t k = 1 + next_random() % 8;
                if (pos + k > out.len) k = out.len - pos;
                memmove(out.data + pos, out.data + pos + k, out.len - pos - k);
                out.len -= k;
            }
            break;
        case 4: /* splice a piece of another input */ {
            const input *o = &corpus[next_random() % n];
            if (!o->len) break;
            size_t from = next_random() % o->len, k = 1 + next_random() % 32;
            if (from + k > o->len) k = o->len - from;
            if (out.len + k >= cap) break;
            memmove(out.data + pos + k, out.data + pos, out.len - pos);
            memcpy(out.data + pos, o->data + from, k);
            out.len += k;
            break;
        }
        case 5: out.len = pos; break;
        }
    }
    return out;
}

int main(int argc, char **argv) {
    input *corpus = NULL;
    size_t n = 0;
    if (argc > 1) {
        DIR *d = opendir(argv[1]);
        if (d) {
            struct dirent *e;
            while ((e = readdir(d))) {
                if (e->d_name[0] == '.') continue;
                char *path = mlcc_path_join(argv[1], e->d_name);
                size_t len;
                char *data = mlcc_read_file(path, &len);
                free(path);
                if (!data) continue;
                corpus = mlcc_xrealloc(corpus, (n + 1) * sizeof *corpus);
                corpus[n].data = (uint8_t *)data;
                corpus[n].len = len;
                n++;
            }
            closedir(d);
        }
    }
    if (n == 0) {
        corpus = mlcc_xmalloc(sizeof *corpus);
        corpus[0].data = (uint8_t *)mlcc_xstrdup("");
        corpus[0].len = 0;
        n = 1;
    }
    for (size_t i = 0; i < n; i++) LLVMFuzzerTestOneInput(corpus[i].data, corpus[i].len);

    const char *iters_env = getenv("MLCC_FUZZ_ITERS"), *secs_env = getenv("MLCC_FUZZ_SECONDS");
    long iters = iters_env ? atol(iters_env) : 2000;
    double seconds = secs_env ? atof(secs_env) : 20.0;
    rng_state = 0x9e3779b97f4a7c15ull;
    time_t start = time(NULL);
    long done = 0;
    for (; done < iters && difftime(time(NULL), start) < seconds; done++) {
        input in = mutate(corpus, n);
        LLVMFuzzerTestOneInput(in.data, in.len);
        free(in.data);
    }
    for (size_t i = 0; i < n; i++) free(corpus[i].data);
    free(corpus);
    printf("fuzz: %zu corpus inputs, %ld mutations, no crash\n", n, done);
    printf("%ld passed, 0 failed\n", (long)n + done);
    return 0;
}
