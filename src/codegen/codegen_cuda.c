/* codegen_cuda.c - TensorIR -> CUDA C++ kernels + C host wrappers (see codegen_cuda.h). */
#include "codegen/codegen_cuda.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "codegen/codegen_c.h"
#include "codegen/gpu_host.h"
#include "codegen/gpu_kernel.h"
#include "codegen/jit.h"
#include "codegen/names.h"
#include "ir/functor.h"
#include "runtime/cuda_pdl.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/vec.h"
#include "transform/lower_tir.h"



typedef struct cgen {
    mlcc_strbuf *out; /* where emit_* write: the device source or the host source */
    int indent;
    cg_names names; /* var/buffer -> identifier, per function */
    const char *func_name;
    int failed;
    int device;            /* emitting device code (types and intrinsics differ) */
    gpu_kernel_info *kernel; /* the kernel being emitted */
    int thread_dependent;  /* inside control flow that differs between threads of a block */
    int uses_half, uses_bf16;
    /* inside a vectorized loop's word path: these loads read lane v of register arrays */
    const mlcc_expr **word_loads;
    const char **word_names;
    int nword_loads;
    const mlcc_expr *word_lane; /* the loop's var */
    int nvector_loops; /* numbers the register arrays */
} cgen;

static void emit_expr(cgen *g, const mlcc_expr *e);
static void emit_stmt(cgen *g, const mlcc_stmt *s);

static int fail(cgen *g, const char *what, const char *detail) {
    if (!g->failed) mlcc_set_error("codegen_cuda: function '%s': %s%s", g->func_name, what, detail);
    g->failed = 1;
    return -1;
}

static const char *cname(cgen *g, const void *node, const char *base) {
    return cg_name(&g->names, node, base, CG_NAMES_C);
}

static int is_half(mlcc_dtype t) {
    return t.code == DT_FLOAT && t.bits == 16;
}
static int is_bf16(mlcc_dtype t) {
    return t.code == DT_BFLOAT && t.bits == 16;
}
static int is_16bit_float(mlcc_dtype t) {
    return is_half(t) || is_bf16(t);
}

static const char *ctype(cgen *g, mlcc_dtype t) {
    if (dtype_is_bool(t)) return "uint8_t";
    switch (t.code) {
    case DT_INT: return t.bits == 8 ? "int8_t" : t.bits == 16 ? "int16_t" : t.bits == 32 ? "int32_t" : "int64_t";
    case DT_UINT: return t.bits == 8 ? "uint8_t" : t.bits == 16 ? "uint16_t" : t.bits == 32 ? "uint32_t" : "uint64_t";
    case DT_FLOAT:
        if (t.bits == 16) {
            g->uses_half = 1;
            return g->device ? "__half" : "uint16_t";
        }
        return t.bits == 32 ? "float" : "double";
    case DT_BFLOAT:
        g->uses_bf16 = 1;
        return g->device ? "__nv_bfloat16" : "uint16_t";
    default: return "void *";
    }
}

/* The type arithmetic on t happens in: float for the 16-bit floats. */
static const char *compute_type(cgen *g, mlcc_dtype t) {
    return is_16bit_float(t) ? "float" : ctype(g, t);
}

static void line(cgen *g) {
    sb_append_char(g->out, '\n');
    sb_indent(g->out, g->indent * 4);
}

/* ---- expressions ----
 * Every expression of a 16-bit float type is emitted as a value of that type; emit_wide emits
 * it converted to float, so arithmetic happens there and is rounded once on the way back. */

static void emit_wide(cgen *g, const mlcc_expr *e) {
    if (g->device && is_16bit_float(e->dtype)) {
        sb_append(g->out, is_half(e->dtype) ? "__half2float(" : "__bfloat162float(");
        emit_expr(g, e);
        sb_append_char(g->out, ')');
    } else {
        emit_expr(g, e);
    }
}

/* Opens "narrow(" for a 16-bit result computed in float; returns 1 when it did. */
static int open_narrow(cgen *g, mlcc_dtype t) {
    if (!g->device || !is_16bit_float(t)) return 0;
    sb_append(g->out, is_half(t) ? "__float2half_rn(" : "__float2bfloat16_rn(");
    return 1;
}

static void close_narrow(cgen *g, int opened) {
    if (opened) sb_append_char(g->out, ')');
}

static void emit_float_const(cgen *g, double v, mlcc_dtype t) {
    int narrow = open_narrow(g, t);
    int f64 = t.bits == 64;
    if (isinf(v)) sb_printf(g->out, "%s(%s1.0 / 0.0)", f64 ? "(double)" : "(float)", v < 0 ? "-" : "");
    else if (isnan(v)) sb_append(g->out, f64 ? "(0.0 / 0.0)" : "(float)(0.0 / 0.0)");
    else if (f64) sb_printf(g->out, "%.17g", v);
    else {
        char buf[64];
        snprintf(buf, sizeof buf, "%.9g", v);
        /* a float literal needs a '.' or exponent before the f suffix */
        if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
        sb_printf(g->out, "%sf", buf);
    }
    close_narrow(g, narrow);
}

static void emit_call(cgen *g, const mlcc_expr *e) {
    const char *op = e->call.op;
    if (strcmp(op, "cuda.shfl_xor") == 0 && g->device && e->call.nargs == 2 && dtype_eq(e->dtype, DT_F32)) {
        /* a warp's lanes exchange values (every lane of the warp must reach the call) */
        sb_append(g->out, "__shfl_xor_sync(0xffffffffu, (float)(");
        emit_expr(g, e->call.args[0]);
        sb_append(g->out, "), (int)(");
        emit_expr(g, e->call.args[1]);
        sb_append(g->out, "))");
        return;
    }
    if (!dtype_is_float(e->dtype)) {
        if (strcmp(op, "abs") == 0 || strcmp(op, "fabs") == 0) {
            sb_append(g->out, "mlcc_abs_i64(");
            emit_expr(g, e->call.args[0]);
            sb_append_char(g->out, ')');
            return;
        }
        fail(g, "intrinsic on a non-float type: ", op);
        return;
    }
    static const char *direct[] = {"exp", "log", "sqrt", "tanh", "erf", "pow", "fabs", "exp2",
                                   "floor", "ceil", "round", "sin", "cos", "log2", "trunc", "fmod", NULL};
    const char *suffix = e->dtype.bits == 64 ? "" : "f";
    int narrow = open_narrow(g, e->dtype);
    if (strcmp(op, "rsqrt") == 0 || strcmp(op, "sigmoid") == 0) {
        /* 1 / sqrt rather than rsqrtf: the CPU computes it so, and parity tests compare */
        int sig = op[0] == 's';
        sb_printf(g->out, "(%s(1) / (%s%s%s(", compute_type(g, e->dtype), sig ? "1 + " : "",
                  sig ? "exp" : "sqrt", suffix);
        if (sig) sb_append(g->out, "-(");
        emit_wide(g, e->call.args[0]);
        sb_append(g->out, sig ? "))))" : ")))");
        close_narrow(g, narrow);
        return;
    }
    int known = 0;
    for (int i = 0; direct[i]; i++) known |= strcmp(op, direct[i]) == 0;
    if (!known) {
        fail(g, "unknown intrinsic ", op);
        return;
    }
    sb_printf(g->out, "%s%s(", op, suffix);
    for (int i = 0; i < e->call.nargs; i++) {
        if (i) sb_append(g->out, ", ");
        emit_wide(g, e->call.args[i]);
    }
    sb_append_char(g->out, ')');
    close_narrow(g, narrow);
}

/* The flat element offset of indices into a compact row-major buffer. */
static mlcc_expr *flat_index(const mlcc_buffer *b, mlcc_expr **indices, int nidx) {
    return arith_simplify_expr(ir_buffer_offset(b, indices, nidx)); /* storage_align pads strides */
}

static void emit_cast(cgen *g, const mlcc_expr *e) {
    mlcc_dtype to = e->dtype, from = e->un.a->dtype;
    if (dtype_is_bool(to)) {
        sb_append(g->out, "((");
        emit_wide(g, e->un.a);
        sb_append(g->out, ") != 0)");
        return;
    }
    int narrow = open_narrow(g, to);
    /* through float when either side is a 16-bit float */
    sb_printf(g->out, "((%s)", narrow ? "float" : ctype(g, to));
    if (g->device && is_16bit_float(from) && !narrow) sb_append(g->out, "(float)");
    emit_wide(g, e->un.a);
    sb_append_char(g->out, ')');
    close_narrow(g, narrow);
}

static void emit_binary_fn(cgen *g, const char *fn, const mlcc_expr *e) {
    int narrow = open_narrow(g, e->dtype);
    sb_printf(g->out, "%s(", fn);
    emit_wide(g, e->bin.a);
    sb_append(g->out, ", ");
    emit_wide(g, e->bin.b);
    sb_append_char(g->out, ')');
    close_narrow(g, narrow);
}

static void emit_expr(cgen *g, const mlcc_expr *e) {
    if (e->dtype.lanes > 1) {
        fail(g, "vector expressions are not supported yet", "");
        return;
    }
    switch (e->kind) {
    case EXPR_INT:
        if (dtype_is_bool(e->dtype)) sb_printf(g->out, "%d", e->int_value != 0);
        else if (e->int_value == INT64_MIN) sb_append(g->out, "(-9223372036854775807LL - 1)");
        else sb_printf(g->out, "((%s)%lldLL)", ctype(g, e->dtype), (long long)e->int_value);
        return;
    case EXPR_FLOAT: emit_float_const(g, e->float_value, e->dtype); return;
    case EXPR_VAR: sb_append(g->out, cname(g, e, e->var.name)); return;
    case EXPR_NOT:
        sb_append(g->out, "(!");
        emit_expr(g, e->un.a);
        sb_append_char(g->out, ')');
        return;
    case EXPR_CAST: emit_cast(g, e); return;
    case EXPR_SELECT:
        sb_append_char(g->out, '(');
        emit_expr(g, e->select.cond);
        sb_append(g->out, " ? ");
        emit_expr(g, e->select.t);
        sb_append(g->out, " : ");
        emit_expr(g, e->select.f);
        sb_append_char(g->out, ')');
        return;
    case EXPR_CALL: emit_call(g, e); return;
    case EXPR_LOAD:
        for (int i = 0; i < g->nword_loads; i++)
            if (g->word_loads[i] == e) {
                sb_printf(g->out, "%s[%s]", g->word_names[i], cname(g, g->word_lane, g->word_lane->var.name));
                return;
            }
        sb_printf(g->out, "%s[", cname(g, e->load.buffer, e->load.buffer->name));
        emit_expr(g, flat_index(e->load.buffer, e->load.indices, e->load.nidx));
        sb_append_char(g->out, ']');
        return;
    case EXPR_RAMP:
    case EXPR_BROADCAST: fail(g, "vector construct in scalar code", ""); return;
    case EXPR_MIN:
    case EXPR_MAX: {
        const char *suffix = dtype_is_float(e->dtype) ? (e->dtype.bits == 64 ? "f64" : "f32") : "i64";
        char fn[32];
        snprintf(fn, sizeof fn, "mlcc_%s_%s", e->kind == EXPR_MIN ? "min" : "max", suffix);
        emit_binary_fn(g, fn, e);
        return;
    }
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD: {
        const char *kind = e->kind == EXPR_FLOORDIV ? "floordiv" : "floormod";
        const char *suffix = dtype_is_float(e->dtype) ? (e->dtype.bits == 64 ? "f64" : "f32") : "i64";
        char fn[32];
        snprintf(fn, sizeof fn, "mlcc_%s_%s", kind, suffix);
        emit_binary_fn(g, fn, e);
        return;
    }
    default: break;
    }
    if (e->kind == EXPR_MOD && dtype_is_float(e->dtype)) {
        emit_binary_fn(g, e->dtype.bits == 64 ? "fmod" : "fmodf", e);
        return;
    }
    static const char *ops[EXPR_KIND_COUNT] = {
        [EXPR_ADD] = " + ", [EXPR_SUB] = " - ", [EXPR_MUL] = " * ", [EXPR_DIV] = " / ",
        [EXPR_MOD] = " % ", [EXPR_EQ] = " == ", [EXPR_NE] = " != ", [EXPR_LT] = " < ",
        [EXPR_LE] = " <= ", [EXPR_GT] = " > ", [EXPR_GE] = " >= ", [EXPR_AND] = " && ",
        [EXPR_OR] = " || "};
    if (!ops[e->kind]) {
        fail(g, "unsupported expression kind", "");
        return;
    }
    int compare = expr_is_compare(e->kind) || e->kind == EXPR_AND || e->kind == EXPR_OR;
    int narrow = compare ? 0 : open_narrow(g, e->dtype);
    /* narrow integer arithmetic is computed in the type itself, as TIR defines it */
    int cast = !compare && !narrow && !(dtype_is_int(e->dtype) && e->dtype.bits == 64);
    if (cast) sb_printf(g->out, "(%s)", ctype(g, e->dtype));
    sb_append_char(g->out, '(');
    emit_wide(g, e->bin.a);
    sb_append(g->out, ops[e->kind]);
    emit_wide(g, e->bin.b);
    sb_append_char(g->out, ')');
    close_narrow(g, narrow);
}

/* ---- kernel analysis: parameters and launch extents ---- */

/* ---- device statements ---- */

static void emit_sync(cgen *g) {
    if (g->thread_dependent) return; /* a barrier some threads skip would hang the block */
    sb_append(g->out, "__syncthreads();");
    line(g);
}

enum { LOCAL_ARRAY_LIMIT = 64 * 1024 };

static void emit_device_allocate(cgen *g, const mlcc_stmt *s) {
    const mlcc_buffer *b = s->alloc.buffer;
    int64_t n = codegen_const_elems(b);
    int shared = b->scope && strcmp(b->scope, "shared") == 0;
    if (n < 0 || n * dtype_bytes(b->dtype) > LOCAL_ARRAY_LIMIT) {
        fail(g, "an allocation inside a kernel needs a constant size of at most 64 KiB: ", b->name);
        return;
    }
    sb_printf(g->out, "%s%s %s[%lld];", shared ? "__shared__ " : "", ctype(g, b->dtype),
              cname(g, b, b->name), (long long)(n > 0 ? n : 1));
    line(g);
    emit_stmt(g, s->alloc.body);
}

/* A loop bound to a launch axis: its var is the axis index; guarded when the launch covers
 * more than this loop (another loop on the axis is longer). */
static void emit_thread_loop(cgen *g, const mlcc_stmt *s, int axis) {
    const char *v = cname(g, s->for_.var, s->for_.var->var.name);
    static const char *const builtin[6] = {"blockIdx.x", "blockIdx.y", "blockIdx.z",
                                           "threadIdx.x", "threadIdx.y", "threadIdx.z"};
    sb_printf(g->out, "{ const int64_t %s = (int64_t)%s + ", v, builtin[axis]);
    emit_expr(g, s->for_.min);
    sb_append(g->out, ";");
    int guarded = g->kernel->extents[axis].len > 1;
    int was = g->thread_dependent;
    if (guarded) {
        sb_printf(g->out, " if (%s < ", v);
        emit_expr(g, ir_add(s->for_.min, s->for_.extent));
        sb_append(g->out, ") {");
        if (axis >= 3) g->thread_dependent = 1;
    }
    g->indent++;
    line(g);
    emit_stmt(g, s->for_.body);
    g->indent--;
    line(g);
    sb_append(g->out, guarded ? "} }" : "}");
    g->thread_dependent = was;
}

static void emit_serial_for(cgen *g, const mlcc_stmt *s) {
    const char *v = cname(g, s->for_.var, s->for_.var->var.name);
    if (s->for_.kind == FOR_UNROLLED) {
        sb_append(g->out, "#pragma unroll");
        line(g);
    }
    /* a loop whose trip count depends on the thread makes barriers inside it unsafe */
    int was = g->thread_dependent;
    sb_printf(g->out, "for (int64_t %s = ", v);
    emit_expr(g, s->for_.min);
    sb_printf(g->out, "; %s < ", v);
    emit_expr(g, ir_add(s->for_.min, s->for_.extent));
    sb_printf(g->out, "; ++%s) {", v);
    g->indent++;
    line(g);
    emit_stmt(g, s->for_.body);
    /* the next iteration overwrites shared memory that this one may still be reading */
    if (g->kernel->uses_shared && gpu_needs_barrier(gpu_shared_access(s->for_.body), gpu_shared_access(s->for_.body))) {
        line(g);
        emit_sync(g);
    }
    g->indent--;
    line(g);
    sb_append_char(g->out, '}');
    g->thread_dependent = was;
}

/* ---- vectorized loops as 16-byte words ----
 * A vectorized loop (its iterations independent by the schedule's declaration) of constant
 * extent V whose body is one store to a kernel buffer: every operand read or written at
 * base + v (contiguous in the lane v) moves as words of up to 16 bytes through a register
 * array, and the lanes, unrolled, compute from those arrays:
 *
 *     if (every such address at lane 0 is word-aligned) {
 *         __align__(16) __half a[8]; ((uint4 *)a)[0] = ((const uint4 *)(A + base_a))[0]; ...
 *         for v (unrolled): c[v] = value(a[v], ...);
 *         ((uint4 *)(C + base_c))[0] = ((const uint4 *)c)[0];
 *     } else { the serial loop }
 *
 * One instruction then moves eight float16 values instead of one: a 2048-token prefill's
 * silu * up issued three 2-byte memory instructions an element and was bound by them, not by
 * bandwidth. The serial loop stays for misaligned addresses (a view at an odd offset) and every
 * other body; a load of the stored buffer anywhere but at the store's own index keeps the loop
 * serial (a lane would read what an earlier one wrote). MLCC_CUDA_WORDS=0 turns words off. */

enum { WORD_MAX_OPERANDS = 8, WORD_MAX_LANES = 16, WORD_MAX_BYTES = 16 };

typedef struct word_operand {
    const mlcc_buffer *buffer;
    mlcc_expr *base;       /* the flat index at lane 0 */
    int word;              /* bytes a word: 4, 8 or 16 */
    char name[32];         /* the register array */
} word_operand;

typedef struct word_scan {
    const mlcc_stmt *loop;
    mlcc_expr *store_index;
    word_operand ops[WORD_MAX_OPERANDS]; /* the loads' arrays, then the store's */
    int nops;
    const mlcc_expr *loads[WORD_MAX_OPERANDS]; /* loads read from an array: ops[load_op[i]] */
    const char *load_names[WORD_MAX_OPERANDS];
    int load_op[WORD_MAX_OPERANDS], nloads;
    int bad;
} word_scan;

/* Fills op when index is (base + lane) into a global buffer (a kernel parameter) whose V lanes
 * are whole words. */
static int word_operand_of(const word_scan *w, const mlcc_buffer *b, mlcc_expr *index, word_operand *op) {
    mlcc_expr *lane = w->loop->for_.var, *zero = ir_int(0);
    int64_t bytes = w->loop->for_.extent->int_value * dtype_bytes(b->dtype);
    int word = bytes < WORD_MAX_BYTES ? (int)bytes : WORD_MAX_BYTES;
    if (!gpu_is_global_scope(b) || b->dtype.bits < 8 || word < 4 || (word & (word - 1)) || bytes % word) return 0;
    mlcc_expr *base = arith_simplify_expr(expr_substitute(index, &lane, &zero, 1));
    if (arith_simplify_expr(ir_sub(index, base)) != lane) return 0;
    memset(op, 0, sizeof *op);
    op->buffer = b;
    op->base = base;
    op->word = word;
    return 1;
}

static int scan_word_load(ir_visitor *v, mlcc_expr *e) {
    word_scan *w = v->ctx;
    if (w->bad) return 0;
    if (e->kind != EXPR_LOAD) return 1;
    mlcc_expr *index = flat_index(e->load.buffer, e->load.indices, e->load.nidx);
    if (e->load.buffer == w->loop->for_.body->store.buffer) {
        if (!expr_is_int(arith_simplify_expr(ir_sub(index, w->store_index)), 0)) w->bad = 1;
        return 1;
    }
    word_operand op;
    if (w->nloads == WORD_MAX_OPERANDS || !word_operand_of(w, e->load.buffer, index, &op)) return 1;
    int k = 0; /* the same address loaded twice (silu's x): one array */
    while (k < w->nops && !(w->ops[k].buffer == op.buffer && expr_is_int(arith_simplify_expr(ir_sub(w->ops[k].base, op.base)), 0)))
        k++;
    if (k == w->nops) {
        if (w->nops == WORD_MAX_OPERANDS - 1) return 1; /* one left for the store */
        w->ops[w->nops++] = op;
    }
    w->loads[w->nloads] = e;
    w->load_op[w->nloads++] = k;
    return 1;
}

static const char *const word_type[WORD_MAX_BYTES + 1] = {[4] = "unsigned", [8] = "uint2", [16] = "uint4"};

/* Operand op's lanes between memory and its register array, a word at a time: loaded into the
 * array (load) or stored from it. */
static void emit_word_moves(cgen *g, const word_operand *op, int64_t lanes, int load) {
    const char *buf = cname(g, op->buffer, op->buffer->name), *wt = word_type[op->word];
    for (int64_t k = 0; k < lanes * dtype_bytes(op->buffer->dtype) / op->word; k++) {
        line(g);
        if (load)
            sb_printf(g->out, "((%s *)%s)[%lld] = ((const %s *)(%s + %s_at))[%lld];", wt, op->name, (long long)k, wt, buf,
                      op->name, (long long)k);
        else
            sb_printf(g->out, "((%s *)(%s + %s_at))[%lld] = ((const %s *)%s)[%lld];", wt, buf, op->name, (long long)k, wt,
                      op->name, (long long)k);
    }
}

/* Emits loop s with word loads and stores where that applies (returns 0), else nothing (-1). */
static int emit_word_loop(cgen *g, const mlcc_stmt *s) {
    const mlcc_stmt *st = s->for_.body;
    const mlcc_expr *ext = s->for_.extent;
    const char *env = getenv("MLCC_CUDA_WORDS");
    if ((env && strcmp(env, "0") == 0) || !st || st->kind != STMT_STORE || ext->kind != EXPR_INT ||
        ext->int_value < 2 || ext->int_value > WORD_MAX_LANES || !expr_is_int(s->for_.min, 0))
        return -1;
    word_scan w = {.loop = s};
    w.store_index = flat_index(st->store.buffer, st->store.indices, st->store.nidx);
    word_operand store;
    int store_words = word_operand_of(&w, st->store.buffer, w.store_index, &store);
    ir_visitor v = {scan_word_load, NULL, &w};
    ir_visit_expr(&v, st->store.value);
    if (w.bad || (w.nops == 0 && !store_words)) return -1;
    int nload_ops = w.nops;
    if (store_words) w.ops[w.nops++] = store;

    int id = g->nvector_loops++;
    const char *lane = cname(g, s->for_.var, s->for_.var->var.name);
    sb_append(g->out, "{");
    g->indent++;
    for (int i = 0; i < w.nops; i++) {
        word_operand *op = &w.ops[i];
        snprintf(op->name, sizeof op->name, "mlcc_w%d_%d", id, i);
        line(g);
        sb_printf(g->out, "const int64_t %s_at = ", op->name);
        emit_expr(g, op->base);
        sb_append_char(g->out, ';');
    }
    line(g);
    sb_append(g->out, "if (((");
    for (int i = 0; i < w.nops; i++)
        sb_printf(g->out, "%s((unsigned long long)(%s + %s_at) & %d)", i ? " | " : "", cname(g, w.ops[i].buffer, w.ops[i].buffer->name),
                  w.ops[i].name, w.ops[i].word - 1);
    sb_append(g->out, ")) == 0) {");
    g->indent++;
    int64_t lanes = ext->int_value;
    for (int i = 0; i < w.nops; i++) {
        line(g);
        sb_printf(g->out, "__align__(16) %s %s[%lld];", ctype(g, w.ops[i].buffer->dtype), w.ops[i].name, (long long)lanes);
        if (i < nload_ops) emit_word_moves(g, &w.ops[i], lanes, 1);
    }
    for (int i = 0; i < w.nloads; i++) w.load_names[i] = w.ops[w.load_op[i]].name;
    line(g);
    sb_printf(g->out, "#pragma unroll");
    line(g);
    sb_printf(g->out, "for (int64_t %s = 0; %s < %lld; ++%s) {", lane, lane, (long long)lanes, lane);
    g->indent++;
    line(g);
    if (store_words) {
        sb_printf(g->out, "%s[%s] = ", w.ops[w.nops - 1].name, lane);
    } else {
        sb_printf(g->out, "%s[", cname(g, st->store.buffer, st->store.buffer->name));
        emit_expr(g, w.store_index);
        sb_append(g->out, "] = ");
    }
    g->word_loads = w.loads;
    g->word_names = w.load_names;
    g->nword_loads = w.nloads;
    g->word_lane = s->for_.var;
    emit_expr(g, st->store.value);
    g->nword_loads = 0;
    sb_append_char(g->out, ';');
    g->indent--;
    line(g);
    sb_append_char(g->out, '}');
    if (store_words) emit_word_moves(g, &w.ops[w.nops - 1], lanes, 0);
    g->indent--;
    line(g);
    sb_append(g->out, "} else {");
    g->indent++;
    line(g);
    emit_serial_for(g, s);
    g->indent--;
    line(g);
    sb_append(g->out, "}");
    g->indent--;
    line(g);
    sb_append(g->out, "}");
    return 0;
}

static void emit_for(cgen *g, const mlcc_stmt *s) {
    int axis;
    if (s->for_.kind == FOR_THREAD_BINDING) {
        if (!gpu_is_thread_tag(s->for_.thread_tag, &axis)) {
            fail(g, "unsupported thread binding ", s->for_.thread_tag);
            return;
        }
        emit_thread_loop(g, s, axis);
        return;
    }
    if (s->for_.kind == FOR_VECTORIZED && g->device && emit_word_loop(g, s) == 0) return;
    emit_serial_for(g, s);
}

static void emit_seq(cgen *g, const mlcc_stmt *s) {
    for (int i = 0; i < s->seq.n; i++) {
        if (i) line(g);
        /* a statement may read what other threads wrote in the one before, or overwrite what
         * they read there */
        if (i && g->kernel->uses_shared && gpu_needs_barrier(gpu_shared_access(s->seq.stmts[i - 1]), gpu_shared_access(s->seq.stmts[i])))
            emit_sync(g);
        emit_stmt(g, s->seq.stmts[i]);
    }
}

static void emit_stmt(cgen *g, const mlcc_stmt *s) {
    if (!s) {
        sb_append_char(g->out, ';');
        return;
    }
    switch (s->kind) {
    case STMT_FOR: emit_for(g, s); return;
    case STMT_STORE:
        sb_printf(g->out, "%s[", cname(g, s->store.buffer, s->store.buffer->name));
        emit_expr(g, flat_index(s->store.buffer, s->store.indices, s->store.nidx));
        sb_append(g->out, "] = ");
        emit_expr(g, s->store.value);
        sb_append_char(g->out, ';');
        return;
    case STMT_ALLOCATE: emit_device_allocate(g, s); return;
    case STMT_IF: {
        int was = g->thread_dependent;
        g->thread_dependent = 1; /* conservatively: the condition may differ between threads */
        sb_append(g->out, "if (");
        emit_expr(g, s->if_.cond);
        sb_append(g->out, ") {");
        g->indent++;
        line(g);
        emit_stmt(g, s->if_.then_);
        g->indent--;
        line(g);
        sb_append_char(g->out, '}');
        if (s->if_.else_) {
            sb_append(g->out, " else {");
            g->indent++;
            line(g);
            emit_stmt(g, s->if_.else_);
            g->indent--;
            line(g);
            sb_append_char(g->out, '}');
        }
        g->thread_dependent = was;
        return;
    }
    case STMT_SEQ: emit_seq(g, s); return;
    case STMT_EVALUATE:
        sb_append(g->out, "(void)(");
        emit_expr(g, s->eval.value);
        sb_append(g->out, ");");
        return;
    case STMT_BLOCK_REALIZE: fail(g, "a block survived lowering", ""); return;
    }
}

/* ---- kernels and host code ---- */

typedef struct emitter {
    cgen host;            /* writes the host wrapper */
    mlcc_strbuf *device;  /* the CUDA source of all kernels */
    const mlcc_prim_func *func;
    gpu_buffer_vec workspaces; /* global allocations of the function, in order */
    int nkernels;
    int failed;
} emitter;

/* The device function for statement s; fills k. Returns 0 or -1. */
static int emit_kernel_device(emitter *em, const mlcc_stmt *s, gpu_kernel_info *k, const char *kname) {
    cgen *h = &em->host;
    cgen dg = {0};
    dg.out = em->device;
    dg.names = h->names; /* one naming for host and device: parameters keep their names */
    dg.func_name = h->func_name;
    dg.device = 1;
    dg.kernel = k;
    sb_printf(dg.out, "extern \"C\" __global__ void %s(", kname);
    for (size_t i = 0; i < k->buffers.len; i++) {
        mlcc_buffer *b = k->buffers.data[i];
        sb_printf(dg.out, "%s%s *__restrict__ %s", i ? ", " : "", ctype(&dg, b->dtype), cname(&dg, b, b->name));
    }
    for (size_t i = 0; i < k->scalars.len; i++) {
        mlcc_expr *v = k->scalars.data[i];
        sb_printf(dg.out, "%s%s %s", (i || k->buffers.len) ? ", " : "", ctype(&dg, v->dtype), cname(&dg, v, v->var.name));
    }
    sb_append(dg.out, ") {");
    dg.indent = 1;
    /* programmatic dependent launch (runtime/cuda_pdl.h): everything a kernel reads may come
     * from the kernel before it, so it waits first, then lets the next kernel be scheduled */
    line(&dg);
    sb_append(dg.out, "mlcc_pdl_wait();");
    line(&dg);
    sb_append(dg.out, "mlcc_pdl_launch_dependents();");
    line(&dg);
    emit_stmt(&dg, s);
    sb_append(dg.out, "\n}\n\n");
    h->names = dg.names;
    h->uses_half |= dg.uses_half;
    h->uses_bf16 |= dg.uses_bf16;
    if (dg.failed) h->failed = 1;
    return dg.failed ? -1 : 0;
}

/* Host code that launches the kernel for s. */
static int emit_kernel(emitter *em, mlcc_stmt *s) {
    cgen *g = &em->host;
    gpu_kernel_info k = {0};
    gpu_kernel_info_collect(&k, s);
    char kname[200];
    snprintf(kname, sizeof kname, "%s_kernel%d", em->func->name, em->nkernels++);
    /* launch extents must be computable by the host: no var defined inside the kernel */
    for (int a = 0; a < 6; a++)
        for (size_t i = 0; i < k.extents[a].len; i++)
            if (gpu_uses_defined_var(k.extents[a].data[i], &k.defined)) {
                gpu_kernel_info_free(&k);
                return fail(g, "a launch extent depends on a loop variable of the kernel: ", gpu_thread_tags[a]);
            }
    if (emit_kernel_device(em, s, &k, kname) != 0) {
        gpu_kernel_info_free(&k);
        return -1;
    }
    /* host: dims, argument array, launch */
    line(g);
    sb_printf(g->out, "{ /* %s */", kname);
    g->indent++;
    line(g);
    sb_append(g->out, "int64_t dims[6] = {1, 1, 1, 1, 1, 1};");
    for (int a = 0; a < 6; a++) {
        for (size_t i = 0; i < k.extents[a].len; i++) {
            mlcc_expr *ext = k.extents[a].data[i];
            line(g);
            sb_printf(g->out, "{ int64_t e = ");
            emit_expr(g, ext);
            sb_printf(g->out, "; if (%s || e > dims[%d]) dims[%d] = e; }", i == 0 ? "1" : "0", a, a);
        }
    }
    line(g);
    sb_printf(g->out, "for (int a = 0; a < 6; a++) if (dims[a] < 0 || dims[a] > (a == 0 ? 2147483647LL : a < 3 ? 65535 : 1024)) "
                      "{ rc = mlcc_fail(\"%s: launch dimension %%d is %%lld, out of range\", a, (long long)dims[a]); goto done; }",
              kname);
    line(g);
    sb_printf(g->out, "if (dims[3] * dims[4] * dims[5] > 1024) { rc = mlcc_fail(\"%s: %%lld threads per block (at most 1024)\", (long long)(dims[3] * dims[4] * dims[5])); goto done; }", kname);
    line(g);
    sb_append(g->out, "uint32_t grid[3] = {(uint32_t)dims[0], (uint32_t)dims[1], (uint32_t)dims[2]};");
    line(g);
    sb_append(g->out, "uint32_t block[3] = {(uint32_t)dims[3], (uint32_t)dims[4], (uint32_t)dims[5]};");
    size_t nargs = k.buffers.len + k.scalars.len;
    /* scalar arguments need an lvalue of the kernel's parameter type */
    for (size_t i = 0; i < k.scalars.len; i++) {
        mlcc_expr *sv = k.scalars.data[i];
        line(g);
        sb_printf(g->out, "%s a%zu = %s;", ctype(g, sv->dtype), i, cname(g, sv, sv->var.name));
    }
    line(g);
    sb_printf(g->out, "void *args[%zu] = {", nargs ? nargs : 1);
    for (size_t i = 0; i < k.buffers.len; i++)
        sb_printf(g->out, "%s&%s", i ? ", " : "", cname(g, k.buffers.data[i], k.buffers.data[i]->name));
    for (size_t i = 0; i < k.scalars.len; i++) sb_printf(g->out, "%s&a%zu", (i || k.buffers.len) ? ", " : "", i);
    if (!nargs) sb_append(g->out, "0");
    sb_append(g->out, "};");
    line(g);
    sb_append(g->out, "static void *slot = 0;");
    line(g);
    sb_printf(g->out, "if (mlcc_library_cuda->launch(&slot, device_id, mlcc_cuda_source, \"%s\", grid, block, 0, args) != 0) { rc = -1; goto done; }", kname);
    g->indent--;
    line(g);
    sb_append(g->out, "}");
    gpu_kernel_info_free(&k);
    return 0;
}

/* What the CUDA part adds to codegen_c's prelude (types, error hook, index helpers). */
static const char host_prelude[] =
    "\n/* ---- CUDA kernels (mlcc codegen_cuda) ---- */\n"
    "typedef struct {\n"
    "    int (*launch)(void **slot, int device_id, const char *source, const char *kernel,\n"
    "                  const uint32_t grid[3], const uint32_t block[3], uint32_t shared_bytes, void **args);\n"
    "    void *(*alloc)(int device_id, size_t nbytes);\n"
    "    void (*free)(int device_id, void *ptr);\n"
    "} mlcc_cuda_hooks;\n"
    "const mlcc_cuda_hooks *mlcc_library_cuda = 0;\n"
    "const char mlcc_library_target[] = \"cuda\";\n\n";

static const char device_prelude[] =
    "typedef long long int64_t;\ntypedef unsigned long long uint64_t;\ntypedef int int32_t;\n"
    "typedef unsigned int uint32_t;\ntypedef short int16_t;\ntypedef unsigned short uint16_t;\n"
    "typedef signed char int8_t;\ntypedef unsigned char uint8_t;\n"
    "static __device__ __forceinline__ int64_t mlcc_floordiv_i64(int64_t a, int64_t b) { int64_t q = a / b; return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q; }\n"
    "static __device__ __forceinline__ int64_t mlcc_floormod_i64(int64_t a, int64_t b) { int64_t m = a % b; return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m; }\n"
    "static __device__ __forceinline__ float mlcc_floordiv_f32(float a, float b) { return floorf(a / b); }\n"
    "static __device__ __forceinline__ double mlcc_floordiv_f64(double a, double b) { return floor(a / b); }\n"
    "static __device__ __forceinline__ float mlcc_floormod_f32(float a, float b) { return a - floorf(a / b) * b; }\n"
    "static __device__ __forceinline__ double mlcc_floormod_f64(double a, double b) { return a - floor(a / b) * b; }\n"
    "static __device__ __forceinline__ int64_t mlcc_min_i64(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "static __device__ __forceinline__ int64_t mlcc_max_i64(int64_t a, int64_t b) { return a > b ? a : b; }\n"
    "static __device__ __forceinline__ int64_t mlcc_abs_i64(int64_t a) { return a < 0 ? -a : a; }\n"
    "static __device__ __forceinline__ float mlcc_min_f32(float a, float b) { return a < b ? a : b; }\n"
    "static __device__ __forceinline__ float mlcc_max_f32(float a, float b) { return a > b ? a : b; }\n"
    "static __device__ __forceinline__ double mlcc_min_f64(double a, double b) { return a < b ? a : b; }\n"
    "static __device__ __forceinline__ double mlcc_max_f64(double a, double b) { return a > b ? a : b; }\n\n";

/* The host wrapper's writer callbacks (gpu_host.c writes the wrapper). */
static const char *host_name(void *g, const void *node, const char *base) {
    return cname(g, node, base);
}
static const char *host_type(void *g, mlcc_dtype t) {
    return ctype(g, t);
}
static void host_expr(void *g, const mlcc_expr *e) {
    emit_expr(g, e);
}
static int host_kernel(void *em, mlcc_stmt *s) {
    return emit_kernel(em, s);
}

static int emit_function(emitter *em, const mlcc_prim_func *block_form) {
    if (!codegen_is_c_identifier(block_form->name))
        return mlcc_set_error("codegen_cuda: function name '%s' is not a C identifier", block_form->name);
    mlcc_prim_func *f = tir_lower_blocks(block_form);
    cgen *g = &em->host;
    em->func = f;
    g->func_name = f->name;
    gpu_host_backend b = {.host_call = NULL, .device_type = 2, .device = "cuda", .device_title = "CUDA", .hooks = "mlcc_library_cuda",
                          .writer = g, .out = &g->out, .indent = &g->indent, .name = host_name, .type = host_type,
                          .expr = host_expr, .kernel = host_kernel, .kernel_ctx = em, .workspaces = &em->workspaces};
    int rc = gpu_host_emit_function(&b, f);
    return rc != 0 || g->failed ? -1 : 0;
}

int codegen_cuda_is_host_kernel(const mlcc_prim_func *f) {
    return strncmp(f->name, "shape_func_", 11) == 0 && f->nparams == 1 && f->params[0].buffer &&
           f->params[0].buffer->dtype.code == DT_INT && f->params[0].buffer->dtype.bits == 64;
}

/* codegen_c's translation unit for the host kernels, without its closing name list. */
static int emit_host_kernels(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out) {
    mlcc_prim_func **host = mlcc_xmalloc(sizeof *host * (size_t)(nfuncs > 0 ? nfuncs : 1));
    int nhost = 0;
    for (int i = 0; i < nfuncs; i++)
        if (codegen_cuda_is_host_kernel(funcs[i])) host[nhost++] = funcs[i];
    mlcc_strbuf c = STRBUF_INIT;
    int rc = codegen_c(host, nhost, &c);
    free(host);
    if (rc == 0) {
        char *text = sb_detach(&c);
        char *names = strstr(text, "const char *mlcc_library_function_names[]");
        if (names) *names = '\0';
        sb_append(out, text);
        free(text);
    }
    sb_free(&c);
    return rc;
}

int codegen_cuda(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out, mlcc_strbuf *device_source) {
    mlcc_strbuf host = STRBUF_INIT, device = STRBUF_INIT;
    int uses_half = 0, uses_bf16 = 0, rc = 0;
    for (int i = 0; i < nfuncs && rc == 0; i++) {
        if (codegen_cuda_is_host_kernel(funcs[i])) continue;
        emitter em = {0};
        em.host.out = &host;
        em.device = &device;
        static const char *reserved[] = {
            "args", "type_codes", "num_args", "ret", "ret_type_code", "resource", "expect", "d", "a", "e",
            "dims", "grid", "block", "slot", "device_id", "rc", "auto", "break", "case", "char", "const",
            "continue", "default", "do", "double", "else", "enum", "extern", "float", "for", "goto", "if",
            "inline", "int", "long", "register", "restrict", "return", "short", "signed", "sizeof",
            "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
            "bool", "true", "false", "NULL", "new", "delete", "class", "template", "this", "namespace",
            "operator", "private", "public", "virtual", "threadIdx", "blockIdx", "blockDim", "gridDim",
            "warpSize", "exp", "log", "sqrt", "tanh", "erf", "pow", "fabs", "floor", "ceil", "round",
            "sin", "cos", "free", "malloc", "abs", "main", "min", "max", NULL};
        cg_names_init(&em.host.names, reserved);
        rc = emit_function(&em, funcs[i]);
        uses_half |= em.host.uses_half;
        uses_bf16 |= em.host.uses_bf16;
        cg_names_free(&em.host.names);
    }
    if (rc == 0) {
        mlcc_strbuf src = STRBUF_INIT;
        if (uses_half) sb_append(&src, "#include <cuda_fp16.h>\n");
        if (uses_bf16) sb_append(&src, "#include <cuda_bf16.h>\n");
        sb_append(&src, MLCC_PDL_DECLARATION " *\n" MLCC_CUDA_PDL_HELPERS);
        sb_append(&src, device_prelude);
        sb_append(&src, sb_cstr(&device));
        rc = emit_host_kernels(funcs, nfuncs, out);
        sb_append(out, host_prelude);
        sb_append(out, "static const char mlcc_cuda_source[] =\n    ");
        gpu_append_c_string(out, sb_cstr(&src));
        sb_append(out, ";\n\n");
        sb_append(out, sb_cstr(&host));
        sb_append(out, "const char *mlcc_library_function_names[] = {");
        for (int i = 0; i < nfuncs; i++) sb_printf(out, "\"%s\", ", funcs[i]->name);
        sb_append(out, "0};\n");
        if (device_source) sb_append(device_source, sb_cstr(&src));
        sb_free(&src);
    }
    sb_free(&host);
    sb_free(&device);
    return rc;
}

mlcc_jit_module *mlcc_jit_build_cuda(mlcc_prim_func **funcs, int nfuncs) {
    mlcc_strbuf src = STRBUF_INIT;
    if (codegen_cuda(funcs, nfuncs, &src, NULL) != 0) {
        sb_free(&src);
        return NULL;
    }
    mlcc_jit_module *m = mlcc_jit_compile_source(sb_cstr(&src));
    sb_free(&src);
    return m;
}
