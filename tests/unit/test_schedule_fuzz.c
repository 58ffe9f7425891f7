/* test_schedule_fuzz.c - seeded random schedules: sequences of primitives on random loops and
 * blocks of the test kernels. A request the schedule rejects must leave the function as it was
 * (and say which primitive refused); after each sequence the scheduled function must compute
 * what the unscheduled one does (reference interpreter, n = 1, 7, 16, 33) and replaying the
 * printed trace must give the same function. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched_check.h"

#define SEQUENCES 2000
#define MAX_STEPS 10
#define MAX_LOOPS 16

static uint64_t rng_state;

static uint64_t rnd(void) {
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int pick(int n) {
    return n > 0 ? (int)(rnd() % (uint64_t)n) : 0;
}

typedef enum {
    P_SPLIT, P_FUSE, P_REORDER, P_PARALLEL, P_VECTORIZE, P_UNROLL, P_BIND, P_INLINE, P_REVERSE_INLINE, P_DECOMPOSE,
    P_COMPUTE_AT, P_REVERSE_COMPUTE_AT, P_CACHE_READ, P_CACHE_WRITE, P_RFACTOR, P_STORAGE_ALIGN, P_COUNT
} prim;
static const char *prim_names[] = {"split", "fuse", "reorder", "parallel", "vectorize", "unroll", "bind",
                                   "compute_inline", "reverse_compute_inline", "decompose_reduction",
                                   "compute_at", "reverse_compute_at", "cache_read", "cache_write", "rfactor",
                                   "storage_align"};

static int applied[P_COUNT], rejected[P_COUNT];

/* Loops the last split or fuse made: steps prefer them, so that sequences build on their own
 * results (split, then reorder the parts, then fuse two of them ...). */
static mlcc_expr *recent[8];
static int nrecent;
static const char *last_block;

static void remember(mlcc_expr **loops, int n) {
    nrecent = 0;
    for (int i = 0; i < n && i < 8; i++) recent[nrecent++] = loops[i];
}

/* A random block (often the last one used) and its loops; 0 loops when none. */
static const char *random_block(mlcc_schedule *s, mlcc_expr ***loops, int *nloops) {
    const char **blocks;
    int nb = sch_get_blocks(s, &blocks);
    const char *b = blocks[pick(nb)];
    for (int i = 0; last_block && i < nb && pick(2); i++)
        if (!strcmp(blocks[i], last_block)) b = blocks[i];
    last_block = b;
    *nloops = sch_get_loops(s, b, loops);
    return b;
}

/* The index of a random loop of l, often one of the recent ones. */
static int pick_loop(mlcc_expr **l, int nl) {
    if (nrecent && pick(3)) {
        mlcc_expr *want = recent[pick(nrecent)];
        for (int i = 0; i < nl; i++)
            if (l[i] == want) return i;
    }
    return pick(nl);
}

/* One random primitive; returns 0 applied, 1 rejected (checked to change nothing). */
static int random_step(mlcc_schedule *s, prim *which) {
    mlcc_expr **l;
    int nl;
    const char *b = random_block(s, &l, &nl);
    prim p = (prim)pick(P_COUNT);
    int block_only = p == P_INLINE || p == P_REVERSE_INLINE || p == P_CACHE_READ || p == P_CACHE_WRITE ||
                     p == P_STORAGE_ALIGN || p == P_COMPUTE_AT || p == P_REVERSE_COMPUTE_AT;
    if (nl == 0 && !block_only) p = P_INLINE;
    *which = p;
    mlcc_stmt *body_before = sch_func(s)->body;
    int nalloc_before = sch_func(s)->nalloc, trace_before = sch_trace_len(s);
    int rc = 0;
    mlcc_clear_error();
    switch (p) {
    case P_SPLIT: {
        int n = 2 + pick(2);
        int64_t factors[3];
        int infer = pick(n + 1); /* == n: all given (legal only if they cover a constant extent) */
        for (int i = 0; i < n; i++) factors[i] = i == infer ? SCH_INFER : 1 + pick(5);
        mlcc_expr *out[3];
        rc = sch_split(s, l[pick_loop(l, nl)], factors, n, out);
        if (rc == 0) remember(out, n);
        break;
    }
    case P_FUSE: {
        int at = pick_loop(l, nl), len = 2 + pick(2);
        if (at > 0 && pick(2)) at--;
        if (at + len > nl) len = nl - at;
        mlcc_expr *fused = sch_fuse(s, l + at, len);
        rc = fused ? 0 : -1;
        if (fused) remember(&fused, 1);
        break;
    }
    case P_REORDER: {
        /* a random window of the nest around a (recent) loop, shuffled */
        int at = pick_loop(l, nl), lo = at - pick(at + 1), hi = at + pick(nl - at);
        int n = hi - lo + 1;
        if (n > MAX_LOOPS) n = MAX_LOOPS;
        mlcc_expr *perm[MAX_LOOPS];
        for (int i = 0; i < n; i++) perm[i] = l[lo + i];
        for (int i = n - 1; i > 0; i--) {
            int j = pick(i + 1);
            mlcc_expr *t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        rc = sch_reorder(s, perm, n);
        break;
    }
    case P_PARALLEL: rc = sch_parallel(s, l[pick_loop(l, nl)]); break;
    case P_VECTORIZE: rc = sch_vectorize(s, l[pick_loop(l, nl)]); break;
    case P_UNROLL: rc = sch_unroll(s, l[pick_loop(l, nl)]); break;
    case P_BIND: {
        static const char *axes[] = {"blockIdx.x", "threadIdx.x", "threadIdx.y"};
        rc = sch_bind(s, l[pick_loop(l, nl)], axes[pick(3)]);
        break;
    }
    case P_INLINE: rc = sch_compute_inline(s, b); break;
    case P_REVERSE_INLINE: rc = sch_reverse_compute_inline(s, b); break;
    case P_DECOMPOSE: rc = sch_decompose_reduction(s, b, l[pick_loop(l, nl)]) ? 0 : -1; break;
    case P_COMPUTE_AT:
    case P_REVERSE_COMPUTE_AT: {
        /* a loop of another block (a consumer, resp. producer, when the pick is lucky) */
        const char **blocks;
        int nb = sch_get_blocks(s, &blocks);
        const char *other = blocks[pick(nb)];
        mlcc_expr **ol;
        int nol = sch_get_loops(s, other, &ol);
        if (nol <= 0) {
            mlcc_set_error("%s: (no loop to pick)", prim_names[p]);
            rc = -1;
            break;
        }
        mlcc_expr *loop = ol[pick(nol)];
        trace_before = sch_trace_len(s); /* (get_loops recorded a line) */
        rc = p == P_COMPUTE_AT ? sch_compute_at(s, b, loop) : sch_reverse_compute_at(s, b, loop);
        break;
    }
    case P_CACHE_READ: rc = sch_cache_read(s, b, pick(3), pick(2) ? "local" : "shared") ? 0 : -1; break;
    case P_CACHE_WRITE: rc = sch_cache_write(s, b, pick(2), "local") ? 0 : -1; break;
    case P_RFACTOR: rc = sch_rfactor(s, l[pick_loop(l, nl)], pick(3)) ? 0 : -1; break;
    case P_STORAGE_ALIGN: rc = sch_storage_align(s, b, pick(2), pick(3), 1 + pick(16), pick(4)); break;
    default: break;
    }
    if (rc == 0) return 0;
    /* a refusal names the primitive and changes nothing */
    CHECK_MSG(strncmp(mlcc_last_error(), prim_names[p], strlen(prim_names[p])) == 0, "refusal of %s says: %s",
              prim_names[p], mlcc_last_error());
    CHECK(sch_func(s)->body == body_before);
    CHECK(sch_func(s)->nalloc == nalloc_before);
    CHECK(sch_trace_len(s) == trace_before);
    return 1;
}

int main(void) {
    int failures = 0;
    for (int seq = 0; seq < SEQUENCES && failures < 5; seq++) {
        rng_state = 0x5eed0000ULL + (uint64_t)seq;
        kernel_kind k = (kernel_kind)pick(K_COUNT);
        mlcc_prim_func *f = kernel_build(k);
        mlcc_schedule *s = sch_create(f);
        nrecent = 0;
        last_block = NULL;
        int steps = 1 + pick(MAX_STEPS);
        for (int i = 0; i < steps; i++) {
            prim p;
            if (random_step(s, &p)) rejected[p]++;
            else applied[p]++;
        }
        int bad = 0;
        if (compare_at_sizes(f, sch_func(s), (uint64_t)seq)) {
            fprintf(stderr, "sequence %d (%s): numerics: %s\n", seq, kernel_name(k), mlcc_last_error());
            bad = 1;
        } else if (replay_matches(f, s)) {
            fprintf(stderr, "sequence %d (%s): replay: %s\n", seq, kernel_name(k), mlcc_last_error());
            bad = 1;
        }
        if (bad) {
            char *trace = sch_trace_str(s), *text = tir_func_to_string(sch_func(s));
            fprintf(stderr, "trace:\n%s\nfunction:\n%s\n", trace, text);
            free(trace);
            free(text);
            failures++;
        }
        CHECK(!bad);
        sch_free(s);
    }
    int total_applied = 0;
    for (int p = 0; p < P_COUNT; p++) {
        printf("%-24s applied %4d, rejected %4d\n", prim_names[p], applied[p], rejected[p]);
        total_applied += applied[p];
        /* every primitive got exercised both ways often enough to mean something */
        CHECK_MSG(applied[p] >= 20, "%s applied only %d times", prim_names[p], applied[p]);
    }
    printf("%d sequences, %d primitives applied\n", SEQUENCES, total_applied);
    return test_finish();
}
