/* default_schedule.c - default CPU schedule rules applied to every PrimFunc of a module
 * (DESIGN.md §3.5), run by the build pipeline after fuse_tir.
 *
 * Rule GEMM/GEMV (matmul blocks, prefill and decode alike): for a reduction block whose loops
 * end in (rows i, columns j, reduction k), split j into (jo, ji) with a tile width that divides
 * the (constant) number of columns, reorder to jo, i, ji, k, tensorize the (i, ji, k) nest onto
 * the GEMM_NT intrinsic for the block's element types (f32 or f16 weights; kernels/cpu) and
 * run jo in parallel: each thread takes whole column tiles, so decode (i = 1) splits the weight
 * rows evenly over the cores and prefill gets a register-blocked micro-kernel. Rows stay a
 * symbolic loop inside the intrinsic, so every sequence length up to the bound works. Weight
 * matrices under PARALLEL_MIN_WEIGHTS elements stay on one thread: their kernel takes a few
 * microseconds, about what waking a second thread costs (and much less than waiting for one
 * that the OS has descheduled on a busy machine).
 *
 * Rule epilogue-in-tile (rule_epilogue below): an elementwise block after a GEMM that reads its
 * output runs inside the GEMM's parallel column tile, right after the tile's micro-kernel.
 *
 * Rule attention (rule_attention below): the rest of the attention kernel runs in parallel
 * over (heads x rows), its probabilities x V reduction vectorized over the head dimension.
 *
 * Rule parallel nest (rule_parallel_nest below): any other block of a non-opaque function
 * (rms_norm, rope, elementwise epilogues) runs its outer loops in parallel and its innermost
 * loop vectorized, unless the nest is small and of constant size.
 *
 * Every rule works on a fork of the schedule (sch_copy) and is kept only when all of its
 * primitives succeed, so a block the rule does not fit keeps its unscheduled (correct) form.
 * A function whose structural hash has an entry in the schedule database ($MLCC_SCHEDULE_DB,
 * schedule/schedule_db.h) gets that tuned schedule instead of the rules.
 * MLCC_DEFAULT_SCHEDULE=0 turns the pass into the identity (for before/after measurements);
 * MLCC_LOG=debug prints each function's trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "kernels/cpu/intrin.h"
#include "schedule/schedule.h"
#include "schedule/schedule_db.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/log.h"
#include "support/strbuf.h"
#include "transform/pass.h"
#include "transform/schedule_quant.h"

enum { PARALLEL_MIN_WEIGHTS = 1 << 18 };

/* Columns per parallel tile: the widest of 64..4 that divides n with at least 8 tiles (so two
 * or more threads share the work evenly), else the widest that divides n, else 0 (no split). */
static int64_t column_tile(int64_t n) {
    static const int64_t widths[] = {64, 32, 16, 8, 4};
    for (int i = 0; i < 5; i++)
        if (n % widths[i] == 0 && n / widths[i] >= 8) return widths[i];
    for (int i = 0; i < 5; i++)
        if (n % widths[i] == 0 && n > widths[i]) return widths[i];
    return 0;
}

static int64_t const_extent_of(mlcc_schedule *s, mlcc_expr *loop) {
    mlcc_expr *e = sch_loop_extent(s, loop);
    e = e ? arith_simplify_expr(e) : NULL;
    return e && e->kind == EXPR_INT ? e->int_value : -1;
}

/* Tensorizes onto the first GEMM_NT intrinsic that matches; its name into *used. */
static int try_tensorize(mlcc_schedule *s, mlcc_expr *loop, const char **used) {
    const cpu_intrin *const *all = cpu_intrin_all();
    for (int i = 0; all[i]; i++)
        if (all[i]->kind == CPU_INTRIN_GEMM_NT && sch_tensorize(s, loop, all[i]->name) == 0) {
            *used = all[i]->name;
            return 0;
        }
    return -1;
}

/* The GEMM/GEMV rule on one block; 0 when applied (s updated), -1 when it does not fit. The
 * parallel column-tile loop into *tile_loop (NULL when the rule made none). */
static int rule_gemm(mlcc_schedule *s, const char *block, const char **used, mlcc_expr **tile_loop) {
    *tile_loop = NULL;
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 3) return -1;
    mlcc_expr *i = loops[n - 3], *j = loops[n - 2], *k = loops[n - 1];
    mlcc_expr *cols = sch_loop_extent(s, j), *red = sch_loop_extent(s, k);
    cols = cols ? arith_simplify_expr(cols) : NULL;
    red = red ? arith_simplify_expr(red) : NULL;
    int64_t tile = cols && cols->kind == EXPR_INT ? column_tile(cols->int_value) : 0;
    int parallel = tile && red && red->kind == EXPR_INT && cols->int_value * red->int_value >= PARALLEL_MIN_WEIGHTS;
    if (!parallel) {
        if (try_tensorize(s, i, used)) return -1;
        /* columns of symbolic count (attention's scores over the context): run the loop
         * outside the tile (heads) in parallel where there is one and it may */
        if (!tile && n >= 4 && !(cols && cols->kind == EXPR_INT)) (void)sch_parallel(s, loops[n - 4]);
        mlcc_clear_error();
        return 0;
    }
    mlcc_expr *parts[2];
    if (sch_split(s, j, (int64_t[]){SCH_INFER, tile}, 2, parts)) return -1;
    if (sch_reorder(s, (mlcc_expr *[]){parts[0], i}, 2)) return -1;
    if (try_tensorize(s, i, used)) return -1;
    *tile_loop = parts[0];
    return sch_parallel(s, parts[0]);
}

/* The parallel loop right around block "<block>_o" (what a GEMM rule that tensorized block
 * made of its column tiles), or NULL. */
static mlcc_expr *parallel_tile_of(mlcc_schedule *s, const char *block) {
    char name[300];
    snprintf(name, sizeof name, "%s_o", block);
    mlcc_expr **loops;
    const char *outer = sch_get_block(s, name);
    int n = outer ? sch_get_loops(s, outer, &loops) : -1;
    mlcc_expr *tile = n > 0 && sch_loop_kind(s, loops[n - 1]) == FOR_PARALLEL ? loops[n - 1] : NULL;
    mlcc_clear_error();
    return tile;
}

/* Rule epilogue-in-tile: an injective block after a GEMM that reads the GEMM's output (the
 * residual add, SiLU or gate multiply that fusion left in the function) moves into the GEMM's
 * column tile (reverse_compute_at), right after the tile's micro-kernel, while the tile is still
 * in cache: the n x 64 tile is read back from L1/L2 instead of the whole n x N output from
 * memory in a second parallel pass. Its innermost loop (the tile's columns) is vectorized.
 * MLCC_SCHEDULE_EPILOGUE=0 leaves epilogues to the parallel-nest rule (for measurements). */
static int rule_epilogue(mlcc_schedule *s, const char *block, mlcc_expr *tile_loop) {
    if (sch_reverse_compute_at(s, block, tile_loop)) return -1;
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n > 1 && const_extent_of(s, loops[n - 1]) >= 8 && sch_vectorize(s, loops[n - 1])) mlcc_clear_error();
    return 0;
}

static int is_symbolic(mlcc_schedule *s, mlcc_expr *loop) {
    mlcc_expr *e = sch_loop_extent(s, loop);
    return e && arith_simplify_expr(e)->kind != EXPR_INT;
}

static int64_t const_extent(mlcc_schedule *s, mlcc_expr *loop) {
    return const_extent_of(s, loop);
}

/* Fuses loops[0..n) and runs the result in parallel. */
static int parallel_outer(mlcc_schedule *s, mlcc_expr **loops, int n) {
    mlcc_expr *l = n == 1 ? loops[0] : sch_fuse(s, loops, n);
    return l ? sch_parallel(s, l) : -1;
}

/* Rule for the rest of attention (kernels over sequence x context, both symbolic; tiny in
 * decode, so they are left alone when the nest has fewer than two symbolic extents):
 *   - a reduction whose last loop reduces over the context and whose loop before it is a
 *     constant spatial axis of 8..1024 (attention's probabilities x V: C[i, h, d] += P[h, i,
 *     j] * V[j, h, d]): init moved out (decompose_reduction), the reduction loop moved above
 *     that axis, which is vectorized; the loops above fused and run in parallel;
 *   - another reduction or an injective nest: the loops above the last fused and run in
 *     parallel (softmax's max, exp and sum per row). */
static int rule_attention(mlcc_schedule *s, const char *block) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    int nsym = 0;
    for (int i = 0; i < n; i++) nsym += is_symbolic(s, loops[i]);
    if (n < 2 || nsym < 2) return mlcc_set_error("block '%s': fewer than two loops of symbolic extent", block);
    mlcc_expr **l = malloc(sizeof(mlcc_expr *) * (size_t)n);
    memcpy(l, loops, sizeof(mlcc_expr *) * (size_t)n); /* the loop vars stay valid handles */
    int64_t inner = const_extent(s, l[n - 2]);
    int rc;
    if (n >= 3 && is_symbolic(s, l[n - 1]) && inner >= 8 && inner <= 1024 && sch_decompose_reduction(s, block, l[0])) {
        rc = sch_reorder(s, (mlcc_expr *[]){l[n - 1], l[n - 2]}, 2) || sch_vectorize(s, l[n - 2]) ||
             parallel_outer(s, l, n - 2);
    } else {
        mlcc_clear_error();
        rc = parallel_outer(s, l, n - 1);
    }
    free(l);
    return rc ? -1 : 0;
}

enum { MIN_PARALLEL_ITERS = 1 << 15 };

/* Fuses the loops of block above its `inner` innermost ones and runs them in parallel (per_row:
 * the iterations of the inner loops, <= 0 when not constant). A nest of constant extents under
 * MIN_PARALLEL_ITERS iterations stays serial (returns 1: waking a thread would cost more than it
 * saves); one of symbolic extent gets the annotation parallel_min_iters, so that codegen forks
 * only when that many iterations run (decode's one row of rms_norm runs on the calling thread). */
static int parallel_rows(mlcc_schedule *s, const char *block, int inner, int64_t per_row) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops) - inner;
    if (n < 1) return 1;
    int64_t work = per_row > 0 ? per_row : 1;
    int symbolic = per_row <= 0;
    for (int i = 0; i < n; i++) {
        int64_t e = const_extent(s, loops[i]);
        if (e < 0) symbolic = 1;
        else work *= e;
    }
    if (!symbolic && work < MIN_PARALLEL_ITERS) return 1;
    mlcc_expr **l = malloc(sizeof(mlcc_expr *) * (size_t)n);
    memcpy(l, loops, sizeof(mlcc_expr *) * (size_t)n); /* the loop vars stay valid handles */
    mlcc_expr *outer = n == 1 ? l[0] : sch_fuse(s, l, n);
    int rc = outer ? sch_parallel(s, outer) : -1;
    if (rc == 0 && symbolic && per_row > 0)
        rc = sch_annotate_loop(s, outer, "parallel_min_iters", (MIN_PARALLEL_ITERS + per_row - 1) / per_row);
    free(l);
    return rc ? -1 : 0;
}

/* The smallest constant c (8 <= c < extent, a divisor of extent) that the block's body divides an
 * expression of its iter var bound to `loop` by (floordiv, floormod or their C forms), or 0. */
typedef struct modulus_scan {
    const mlcc_expr *var;
    int64_t extent, found;
} modulus_scan;

static int note_modulus(ir_visitor *v, mlcc_expr *e) {
    modulus_scan *m = v->ctx;
    int divides = e->kind == EXPR_FLOORMOD || e->kind == EXPR_FLOORDIV || e->kind == EXPR_MOD || e->kind == EXPR_DIV;
    if (divides && e->bin.b->kind == EXPR_INT && expr_uses_var(e->bin.a, m->var)) {
        int64_t c = e->bin.b->int_value;
        if (c >= 8 && c < m->extent && m->extent % c == 0 && (!m->found || c < m->found)) m->found = c;
    }
    return 1;
}

static int64_t inner_modulus(mlcc_schedule *s, const char *block, const mlcc_expr *loop, int64_t extent) {
    const mlcc_stmt *r = sch_block_realize(s, block);
    if (!r || r->kind != STMT_BLOCK_REALIZE) return 0;
    const mlcc_block *b = r->realize.block;
    modulus_scan m = {NULL, extent, 0};
    for (int i = 0; i < b->niters; i++)
        if (r->realize.iter_values[i] == loop) m.var = b->iters[i].var;
    if (!m.var) return 0;
    ir_visitor v = {note_modulus, NULL, &m};
    ir_visit_stmt(&v, b->body);
    return m.found;
}

/* Rule for the rest (injective nests and row reductions: rms_norm, rope, residual adds, the
 * epilogues fusion left as blocks of their own): the loops above the last are fused and run in
 * parallel; an injective block's last loop, of constant extent, is vectorized (omp simd). A nest
 * of constant extents under MIN_PARALLEL_ITERS iterations stays serial (waking a thread would
 * cost more than it saves); one of symbolic extent gets the annotation parallel_min_iters, so
 * that codegen forks only when that many outer iterations run. Opaque functions (op_pattern 8: the paged KV-cache kernels of
 * src/gen) keep their generator's schedule. */
static int rule_parallel_nest(mlcc_schedule *s, const char *block) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 2) return mlcc_set_error("block '%s': fewer than two loops", block);
    mlcc_expr *innermost = loops[n - 1];
    int64_t last = const_extent(s, innermost), lanes = last;
    int inner = 1;
    /* An index i % c or i // c of the last loop (rope's halves: i % 32, (i + 32) % 64 over 64) is
     * a gather and a select per lane; split by c, the inner loop's indices are affine (codegen
     * simplifies them over the loops' ranges) and its accesses contiguous. */
    int64_t c = last > 8 ? inner_modulus(s, block, innermost, last) : 0;
    mlcc_expr *parts[2];
    if (c && sch_split(s, innermost, (const int64_t[]){last / c, c}, 2, parts) == 0) {
        innermost = parts[1], lanes = c, inner = 2;
    }
    /* vectorize first: it fails, harmlessly, on a reduction's loop */
    if (lanes >= 8 && sch_vectorize(s, innermost) != 0) mlcc_clear_error();
    int rc = parallel_rows(s, block, inner, last);
    return rc > 0 ? mlcc_set_error("block '%s': too few iterations to run in parallel", block) : rc;
}

/* Rule row reduction (rms_norm's sum of squares, softmax's max and sum, a mean): a reduction
 * whose last loop reduces a constant extent of at least 8 x ROW_LANES, a multiple of it, keeps
 * ROW_LANES partial results (rfactor) filled by a vectorized loop, then adds them up in order;
 * the rows run in parallel as under rule_parallel_nest. The one serial sum it replaces was a
 * dependency chain through memory: 12-14 us for decode's 2048-value row of TinyLlama's
 * rms_norm, twice a layer. The partial sums change the order of the additions, not what they
 * add. */
enum { ROW_LANES = 16 };

static int rule_row_reduction(mlcc_schedule *s, const char *block) {
    mlcc_expr **loops;
    int n = sch_get_loops(s, block, &loops);
    if (n < 1) return mlcc_set_error("block '%s': no loops", block);
    int64_t extent = const_extent(s, loops[n - 1]);
    if (extent < 8 * ROW_LANES || extent % ROW_LANES)
        return mlcc_set_error("block '%s': the last loop's extent %lld is not a multiple of %d from %d", block,
                              (long long)extent, ROW_LANES, 8 * ROW_LANES);
    mlcc_expr *parts[2];
    if (sch_split(s, loops[n - 1], (const int64_t[]){extent / ROW_LANES, ROW_LANES}, 2, parts)) return -1;
    const char *rf = sch_rfactor(s, parts[1], -1); /* the partial results' axis last: a row's are contiguous */
    if (!rf) return -1;
    mlcc_expr **rf_loops;
    int nrf = sch_get_loops(s, rf, &rf_loops);
    if (sch_vectorize(s, rf_loops[nrf - 1]) || parallel_rows(s, rf, 2, extent) < 0) return -1;
    return parallel_rows(s, block, 1, ROW_LANES) < 0 ? -1 : 0;
}

static int is_opaque(const mlcc_prim_func *f) {
    mlcc_expr *p = prim_func_get_attr(f, "op_pattern");
    return p && p->kind == EXPR_INT && p->int_value >= 8;
}

/* The schedule the database holds for f applied to it, or NULL (none, or it does not replay:
 * then the default rules run, with a warning). */
static mlcc_prim_func *tuned_schedule(mlcc_prim_func *f, const char *db) {
    char *trace = sched_db_lookup(db, f);
    if (!trace) return NULL;
    mlcc_schedule *s = sch_create(f);
    mlcc_prim_func *out = NULL;
    if (sch_replay(s, trace) == 0) {
        out = sch_func(s);
        mlcc_strbuf origin = STRBUF_INIT;
        sb_printf(&origin, "%s; tuned schedule (%s)", f->origin ? f->origin : f->name, db);
        out->origin = mlcc_intern(origin.data);
        sb_free(&origin);
        LOG_DEBUG("default_schedule: %s: the tuned schedule of %s:\n%s", f->name, db, trace);
    } else {
        LOG_WARN("default_schedule: %s: the schedule database %s holds a trace that does not apply (%s); using the default rules",
                 f->name, db, mlcc_last_error());
        mlcc_clear_error();
    }
    sch_free(s);
    free(trace);
    return out;
}

typedef int (*block_rule)(mlcc_schedule *s, const char *block);

/* Applies rule to block on a fork of *s and keeps the fork where it succeeds (1), else leaves *s
 * as it was (0; MLCC_LOG=debug says why). */
static int apply_rule(mlcc_schedule **s, block_rule rule, const char *rule_name, const mlcc_prim_func *f, const char *block) {
    mlcc_schedule *fork = sch_copy(*s);
    if (rule(fork, block) == 0) {
        sch_free(*s);
        *s = fork;
        return 1;
    }
    LOG_DEBUG("default_schedule: %s: block %s: %s rule not applied: %s", f->name, block, rule_name, mlcc_last_error());
    sch_free(fork);
    return 0;
}

/* Applies the rules to f; returns the scheduled function, or f when nothing applied. */
static mlcc_prim_func *schedule_func(mlcc_prim_func *f) {
    const char *db = sched_db_default_dir();
    mlcc_prim_func *tuned = db ? tuned_schedule(f, db) : NULL;
    if (tuned) return tuned;
    mlcc_schedule *s = sch_create(f);
    const char **blocks;
    int nb = sch_get_blocks(s, &blocks);
    int applied = 0, tensorized = 0;
    const char *epilogues_env = getenv("MLCC_SCHEDULE_EPILOGUE");
    int epilogues = !epilogues_env || strcmp(epilogues_env, "0") != 0;
    char *moved = calloc((size_t)nb + 1, 1); /* blocks an earlier rule placed already */
    mlcc_strbuf origin = STRBUF_INIT;
    sb_append(&origin, f->origin ? f->origin : f->name);
    for (int b = 0; b < nb; b++) {
        if (moved[b]) continue;
        mlcc_schedule *fork = sch_copy(s);
        const char *used = NULL;
        mlcc_expr *tile_loop = NULL;
        int quant = schedule_quant_rule(&fork, blocks[b], &used) == 0;
        if (quant || rule_gemm(fork, blocks[b], &used, &tile_loop) == 0) {
            sb_printf(&origin, "%s%s", tensorized++ ? ", " : "; tensorized: ", used);
            sch_free(s);
            s = fork;
            applied++;
            if (epilogues && quant) tile_loop = parallel_tile_of(s, blocks[b]); /* the quantized rule's */
            for (int c = b + 1; epilogues && tile_loop && c < nb; c++) {
                fork = sch_copy(s);
                if (rule_epilogue(fork, blocks[c], tile_loop) == 0) {
                    sch_free(s);
                    s = fork;
                    moved[c] = 1;
                } else {
                    LOG_DEBUG("default_schedule: %s: block %s: epilogue rule not applied: %s", f->name, blocks[c],
                              mlcc_last_error());
                    sch_free(fork);
                }
            }
            continue;
        }
        LOG_DEBUG("default_schedule: %s: block %s: GEMM rule not applied: %s", f->name, blocks[b], mlcc_last_error());
        sch_free(fork);
        if (apply_rule(&s, rule_attention, "attention", f, blocks[b])) {
            applied++;
            continue;
        }
        if (is_opaque(f)) continue;
        if (apply_rule(&s, rule_row_reduction, "row reduction", f, blocks[b]) ||
            apply_rule(&s, rule_parallel_nest, "parallel", f, blocks[b]))
            applied++;
    }
    mlcc_clear_error();
    mlcc_prim_func *out = f;
    if (applied) {
        out = sch_func(s);
        out->origin = mlcc_intern(origin.data); /* `mlcc show --kernels` lists the intrinsics */
        char *trace = sch_trace_str(s);
        LOG_DEBUG("default_schedule: %s:\n%s", f->name, trace);
        /* MLCC_SCHEDULE_DB_RECORD=1: the default schedules become entries to tune from */
        const char *record = getenv("MLCC_SCHEDULE_DB_RECORD");
        if (db && record && strcmp(record, "0") && sched_db_store(db, f, trace) != 0) {
            LOG_WARN("default_schedule: %s: %s", f->name, mlcc_last_error());
            mlcc_clear_error();
        }
        free(trace);
    }
    sch_free(s);
    sb_free(&origin);
    free(moved);
    return out;
}

mlcc_ir_module *pass_default_schedule(const mlcc_ir_module *m, void *ctx) {
    (void)ctx;
    mlcc_ir_module *out = irmod_copy(m);
    const char *env = getenv("MLCC_DEFAULT_SCHEDULE");
    if (env && !strcmp(env, "0")) return out;
    for (int i = 0; i < out->n; i++)
        if (out->entries[i].kind == IRMOD_PRIM) out->entries[i].prim = schedule_func(out->entries[i].prim);
    return out;
}
