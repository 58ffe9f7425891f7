/* codegen_vulkan.c - TensorIR -> GLSL compute shaders + C host wrappers (see codegen_vulkan.h).
 *
 * Why GLSL and not SPIR-V directly: GLSL is text that tests and people can read, glslang
 * turns it into SPIR-V, and the driver gets SPIR-V made by the
 * compiler the runtime found (vulkan_pipeline.c compiles at the first call and caches on disk).
 * Emitting SPIR-V by hand would need an SSA builder, structured control flow and an optimiser
 * of our own, for nothing a model library can see.
 *
 * The analysis of a kernel (its buffers, scalars and launch extents, barriers) is gpu_kernel.c's,
 * shared with codegen_cuda.c; the split of a lowered function into kernels and the host wrappers
 * follow codegen_cuda.c; the kernel text differs: one storage buffer per tensor (binding i, the
 * element offset of a view in the push constants), scalars in the push-constant block,
 * gl_WorkGroupID / gl_LocalInvocationID for blockIdx / threadIdx with the workgroup size a
 * specialization constant, `shared` arrays at file scope, barrier() for __syncthreads(). */
#include "codegen/codegen_vulkan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "codegen/codegen_c.h"
#include "codegen/codegen_cuda.h"
#include "codegen/gpu_host.h"
#include "codegen/gpu_kernel.h"
#include "codegen/jit.h"
#include "codegen/names.h"
#include "support/alloc.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "support/vec.h"
#include "schedule/gpu_rules.h"
#include "transform/lower_tir.h"

/* The host-side intrinsic: the subgroup size of the call's device when it can shuffle within
 * subgroups (0 otherwise). */
#define VULKAN_SUBGROUP_SIZE "vulkan.subgroup_size"


typedef struct cgen {
    mlcc_strbuf *out; /* the kernel's GLSL or the host's C */
    int indent;
    cg_names names; /* var/buffer -> identifier, per function */
    const char *func_name;
    int failed;
    int device;            /* emitting GLSL */
    gpu_kernel_info *kernel; /* the kernel being emitted */
    int thread_dependent;  /* inside control flow that differs between threads of a workgroup */
    int fold_x;            /* the kernel reads its x workgroup index from mlcc_bx */
    int uses_f16;          /* the kernel names float16_t: it needs the 16-bit extensions */
    int uses_shuffle;      /* the kernel shuffles across a subgroup (GL_KHR_shader_subgroup_shuffle) */
    int uses_subgroup;     /* subgroup reductions under #if MLCC_SUBGROUP_ARITH */
    int narrow;            /* emitting an index of a buffer of fewer than 2^31 elements: int64 as int */
    mlcc_strbuf *shared_decls; /* file-scope `shared` arrays of the kernel */
} cgen;

static void emit_expr(cgen *g, const mlcc_expr *e);
static void emit_stmt(cgen *g, const mlcc_stmt *s);

static int fail(cgen *g, const char *what, const char *detail) {
    if (!g->failed) mlcc_set_error("codegen_vulkan: function '%s': %s%s", g->func_name, what, detail);
    g->failed = 1;
    return -1;
}

static const char *cname(cgen *g, const void *node, const char *base) {
    return cg_name(&g->names, node, base, CG_NAMES_GLSL);
}

/* C type on the host, GLSL type in a kernel (NULL there for what GLSL cannot store here). */
static const char *ctype(cgen *g, mlcc_dtype t) {
    char tb[24];
    if (g->device) {
        if (dtype_is_bool(t)) return "bool";
        if (t.code == DT_INT && t.bits == 32) return "int";
        if (t.code == DT_INT && t.bits == 64) return "int64_t";
        if (t.code == DT_UINT && t.bits == 32) return "uint";
        if (t.code == DT_UINT && t.bits == 64) return "uint64_t";
        if (t.code == DT_FLOAT && t.bits == 32) return "float";
        if (t.code == DT_FLOAT && t.bits == 64) return "double";
        if (t.code == DT_FLOAT && t.bits == 16) {
            g->uses_f16 = 1;
            return "float16_t";
        }
        fail(g, "type not supported on Vulkan yet: ", dtype_str(t, tb));
        return "float";
    }
    if (dtype_is_bool(t)) return "uint8_t";
    switch (t.code) {
    case DT_INT: return t.bits == 8 ? "int8_t" : t.bits == 16 ? "int16_t" : t.bits == 32 ? "int32_t" : "int64_t";
    case DT_UINT: return t.bits == 8 ? "uint8_t" : t.bits == 16 ? "uint16_t" : t.bits == 32 ? "uint32_t" : "uint64_t";
    case DT_FLOAT: return t.bits == 16 ? "uint16_t" : t.bits == 32 ? "float" : "double";
    case DT_BFLOAT: return "uint16_t";
    default: return "void *";
    }
}

static void line(cgen *g) {
    sb_append_char(g->out, '\n');
    sb_indent(g->out, g->indent * 4);
}

/* ---- expressions ---- */

static void emit_float_const(cgen *g, double v, mlcc_dtype t) {
    int f64 = t.bits == 64;
    if (g->device && t.bits == 16) { /* GLSL has no float16 literal suffix: a constructor */
        sb_append(g->out, "float16_t(");
        emit_float_const(g, v, DT_F32);
        sb_append_char(g->out, ')');
        g->uses_f16 = 1;
        return;
    }
    if (g->device) {
        if (isinf(v) || isnan(v)) {
            const char *bits = isnan(v) ? "0x7fc00000u" : v < 0 ? "0xff800000u" : "0x7f800000u";
            sb_printf(g->out, "%s(uintBitsToFloat(%s))", f64 ? "double" : "", bits);
            return;
        }
        char buf[64];
        snprintf(buf, sizeof buf, f64 ? "%.17g" : "%.9g", v);
        if (!strpbrk(buf, ".eE")) strcat(buf, ".0");
        sb_printf(g->out, "%s%s", buf, f64 ? "lf" : "");
        return;
    }
    if (isinf(v)) sb_printf(g->out, "%s(%s1.0 / 0.0)", f64 ? "(double)" : "(float)", v < 0 ? "-" : "");
    else if (isnan(v)) sb_append(g->out, f64 ? "(0.0 / 0.0)" : "(float)(0.0 / 0.0)");
    else if (f64) sb_printf(g->out, "%.17g", v);
    else {
        char buf[64];
        snprintf(buf, sizeof buf, "%.9g", v);
        if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
        sb_printf(g->out, "%sf", buf);
    }
}

static void emit_int_const(cgen *g, const mlcc_expr *e) {
    long long v = (long long)e->int_value;
    if (dtype_is_bool(e->dtype)) {
        sb_append(g->out, g->device ? (v ? "true" : "false") : (v ? "1" : "0"));
        return;
    }
    if (!g->device) {
        if (e->int_value == INT64_MIN) sb_append(g->out, "(-9223372036854775807LL - 1)");
        else sb_printf(g->out, "((%s)%lldLL)", ctype(g, e->dtype), v);
        return;
    }
    const char *t = ctype(g, e->dtype);
    if (e->int_value == INT64_MIN) sb_append(g->out, "(-9223372036854775807l - 1l)");
    else if (strcmp(t, "int64_t") == 0) sb_printf(g->out, "%s%lldl%s", v < 0 ? "(" : "", v, v < 0 ? ")" : "");
    else if (strcmp(t, "uint64_t") == 0) sb_printf(g->out, "%lluul", (unsigned long long)v);
    else if (strcmp(t, "uint") == 0) sb_printf(g->out, "%lluu", (unsigned long long)(uint32_t)v);
    else sb_printf(g->out, "%s%lld%s", v < 0 ? "(" : "", v, v < 0 ? ")" : "");
}

static void emit_args(cgen *g, const char *fn, mlcc_expr *const *args, int n) {
    sb_printf(g->out, "%s(", fn);
    for (int i = 0; i < n; i++) {
        if (i) sb_append(g->out, ", ");
        emit_expr(g, args[i]);
    }
    sb_append_char(g->out, ')');
}

static void emit_call(cgen *g, const mlcc_expr *e) {
    const char *op = e->call.op;
    if (strcmp(op, VULKAN_SUBGROUP_SIZE) == 0 && !g->device) {
        sb_append(g->out, "mlcc_vk_subgroup_size(device_id)");
        return;
    }
    if (strcmp(op, "cuda.shfl_xor") == 0 && g->device && e->call.nargs == 2) {
        /* a 32-lane warp's butterfly: within a subgroup of 32 or more lanes (the host launches
         * such kernels only there, see vulkan_schedule), lane ^ mask stays in the warp */
        sb_append(g->out, "subgroupShuffleXor(");
        emit_expr(g, e->call.args[0]);
        sb_append(g->out, ", uint(");
        emit_expr(g, e->call.args[1]);
        sb_append(g->out, "))");
        g->uses_shuffle = 1;
        return;
    }
    if (!g->device) {
        fail(g, "an intrinsic in host code: ", op);
        return;
    }
    if (!dtype_is_float(e->dtype)) {
        if (strcmp(op, "abs") == 0 || strcmp(op, "fabs") == 0) {
            emit_args(g, "mlcc_abs", e->call.args, 1);
            return;
        }
        fail(g, "intrinsic on a non-float type: ", op);
        return;
    }
    if (e->dtype.bits != 32) {
        /* GLSL has exp, sin, ... for float only: computed in float (rope tables' angles keep
         * about 1e-7 relative error; a float16 result is rounded once, at the end) */
        mlcc_expr narrow = *e;
        narrow.dtype = DT_F32;
        mlcc_expr *args[8];
        mlcc_expr casts[8];
        if (e->call.nargs > 8) {
            fail(g, "an intrinsic with more than 8 arguments: ", op);
            return;
        }
        for (int i = 0; i < e->call.nargs; i++) {
            casts[i] = (mlcc_expr){0};
            casts[i].kind = EXPR_CAST;
            casts[i].dtype = DT_F32;
            casts[i].un.a = e->call.args[i];
            args[i] = &casts[i];
        }
        narrow.call.args = args;
        sb_append(g->out, e->dtype.bits == 64 ? "double(" : "float16_t(");
        emit_call(g, &narrow);
        sb_append_char(g->out, ')');
        return;
    }
    if (strcmp(op, "rsqrt") == 0 || strcmp(op, "sigmoid") == 0) {
        /* 1 / sqrt rather than inversesqrt: the CPU computes it so, and parity tests compare */
        int sig = op[0] == 's';
        sb_append(g->out, sig ? "(1.0 / (1.0 + exp(-(" : "(1.0 / sqrt(");
        emit_expr(g, e->call.args[0]);
        sb_append(g->out, sig ? "))))" : "))");
        return;
    }
    static const char *const map[][2] = {
        {"exp", "exp"},     {"log", "log"},         {"sqrt", "sqrt"},   {"tanh", "mlcc_tanh"}, {"erf", "mlcc_erf"},
        {"pow", "pow"},     {"fabs", "abs"},        {"exp2", "exp2"},   {"floor", "floor"},    {"ceil", "ceil"},
        {"round", "mlcc_round"}, {"sin", "sin"},    {"cos", "cos"},     {"log2", "log2"},      {"trunc", "trunc"},
        {"fmod", "mlcc_fmod"}, {NULL, NULL}};
    for (int i = 0; map[i][0]; i++)
        if (strcmp(op, map[i][0]) == 0) {
            emit_args(g, map[i][1], e->call.args, e->call.nargs);
            return;
        }
    fail(g, "unknown intrinsic ", op);
}

/* The flat element offset of indices into a compact row-major buffer. */
static mlcc_expr *flat_index(const mlcc_buffer *b, mlcc_expr **indices, int nidx) {
    return arith_simplify_expr(ir_buffer_offset(b, indices, nidx)); /* storage_align pads strides */
}

/* Index arithmetic in 32 bits where the buffer has fewer than 2^31 elements: an in-bounds
 * row-major index and the products and sums that make it stay below the count, and the access
 * converts to int anyway. 64-bit integer arithmetic (division above all) is several
 * instructions per operation on GPUs, and the decode GEMVs spent their time on it. A buffer of
 * 2-byte or wider elements always qualifies: a kernel binds a whole VkBuffer, which the runtime
 * checks against maxStorageBufferRange, a uint32_t limit (so below 2^31 such elements); one of
 * 1-byte elements when its shape is constant and small enough. */
static int narrow_index(const mlcc_buffer *b) {
    if (dtype_bytes(b->dtype) >= 2) return 1;
    int64_t n = codegen_const_elems(b);
    return n >= 0 && n < ((int64_t)1 << 31);
}

/* name.d[offset + index] for a kernel parameter, name[index] for a kernel's own array. */
static void emit_access(cgen *g, const mlcc_buffer *b, mlcc_expr **indices, int nidx) {
    const char *name = cname(g, b, b->name);
    if (g->device && gpu_is_global_scope(b)) sb_printf(g->out, "%s.d[int(pc.o_%s) + int(", name, name);
    else sb_printf(g->out, "%s[%s", name, g->device ? "int(" : "");
    int was = g->narrow;
    g->narrow = g->device && narrow_index(b);
    emit_expr(g, flat_index(b, indices, nidx));
    g->narrow = was;
    sb_append(g->out, g->device ? ")]" : "]");
}

/* In a narrowed index, an int64 leaf (variable, load, call, cast) becomes int(...) and an int64
 * constant that fits an int literal; the arithmetic between them is then in int (the prelude
 * has int overloads of mlcc_floordiv, mlcc_min, ...). Returns 1 when it emitted e. */
static int emit_narrow(cgen *g, const mlcc_expr *e) {
    if (!g->narrow || !(e->dtype.code == DT_INT && e->dtype.bits == 64)) return 0;
    switch (e->kind) {
    case EXPR_INT:
        if (e->int_value < -2147483647LL || e->int_value > 2147483647LL) return 0;
        sb_printf(g->out, "%s%lld%s", e->int_value < 0 ? "(" : "", (long long)e->int_value, e->int_value < 0 ? ")" : "");
        return 1;
    case EXPR_VAR:
    case EXPR_LOAD:
    case EXPR_CALL:
    case EXPR_CAST: {
        g->narrow = 0;
        sb_append(g->out, "int(");
        emit_expr(g, e->kind == EXPR_CAST ? e->un.a : e);
        sb_append_char(g->out, ')');
        g->narrow = 1;
        return 1;
    }
    default: return 0; /* arithmetic: emitted as usual, its operands narrowed */
    }
}

static void emit_cast(cgen *g, const mlcc_expr *e) {
    mlcc_dtype to = e->dtype, from = e->un.a->dtype;
    if (dtype_is_bool(to) && !dtype_is_bool(from)) {
        sb_append(g->out, "((");
        emit_expr(g, e->un.a);
        sb_printf(g->out, ") != %s(0))", g->device ? ctype(g, from) : "");
        return;
    }
    if (g->device) sb_printf(g->out, "%s(", ctype(g, to));
    else sb_printf(g->out, "((%s)", ctype(g, to));
    emit_expr(g, e->un.a);
    sb_append_char(g->out, ')');
}

static void emit_binary_fn(cgen *g, const char *fn, const mlcc_expr *e) {
    sb_printf(g->out, "%s(", fn);
    emit_expr(g, e->bin.a);
    sb_append(g->out, ", ");
    emit_expr(g, e->bin.b);
    sb_append_char(g->out, ')');
}

static void emit_expr(cgen *g, const mlcc_expr *e) {
    if (e->dtype.lanes > 1) {
        fail(g, "vector expressions are not supported yet", "");
        return;
    }
    if (emit_narrow(g, e)) return;
    switch (e->kind) {
    case EXPR_INT: emit_int_const(g, e); return;
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
    case EXPR_LOAD: emit_access(g, e->load.buffer, e->load.indices, e->load.nidx); return;
    case EXPR_RAMP:
    case EXPR_BROADCAST: fail(g, "vector construct in scalar code", ""); return;
    case EXPR_MIN:
    case EXPR_MAX:
        if (g->device) {
            emit_binary_fn(g, e->kind == EXPR_MIN ? "mlcc_min" : "mlcc_max", e);
        } else {
            const char *suffix = dtype_is_float(e->dtype) ? (e->dtype.bits == 64 ? "f64" : "f32") : "i64";
            char fn[32];
            snprintf(fn, sizeof fn, "mlcc_%s_%s", e->kind == EXPR_MIN ? "min" : "max", suffix);
            emit_binary_fn(g, fn, e);
        }
        return;
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD:
        if (g->device) {
            emit_binary_fn(g, e->kind == EXPR_FLOORDIV ? "mlcc_floordiv" : "mlcc_floormod", e);
        } else {
            const char *suffix = dtype_is_float(e->dtype) ? (e->dtype.bits == 64 ? "f64" : "f32") : "i64";
            char fn[32];
            snprintf(fn, sizeof fn, "mlcc_%s_%s", e->kind == EXPR_FLOORDIV ? "floordiv" : "floormod", suffix);
            emit_binary_fn(g, fn, e);
        }
        return;
    default: break;
    }
    if (e->kind == EXPR_MOD && (g->device || dtype_is_float(e->dtype))) {
        /* GLSL leaves % of negative operands undefined: C's truncated remainder by hand */
        emit_binary_fn(g, g->device ? "mlcc_mod" : e->dtype.bits == 64 ? "fmod" : "fmodf", e);
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
    /* host: narrow integer arithmetic is computed in the type itself, as TIR defines it */
    int cast = !g->device && !compare && !(dtype_is_int(e->dtype) && e->dtype.bits == 64);
    if (cast) sb_printf(g->out, "(%s)", ctype(g, e->dtype));
    sb_append_char(g->out, '(');
    emit_expr(g, e->bin.a);
    sb_append(g->out, ops[e->kind]);
    emit_expr(g, e->bin.b);
    sb_append_char(g->out, ')');
}

/* ---- kernel analysis: parameters and launch extents ---- */


/* ---- kernel statements ---- */

static void emit_sync(cgen *g) {
    if (g->thread_dependent) return; /* a barrier some invocations skip would hang the workgroup */
    sb_append(g->out, "memoryBarrierShared(); barrier();");
    line(g);
}

enum { LOCAL_ARRAY_LIMIT = 32 * 1024 };

static void emit_device_allocate(cgen *g, const mlcc_stmt *s) {
    const mlcc_buffer *b = s->alloc.buffer;
    int64_t n = codegen_const_elems(b);
    int shared = b->scope && strcmp(b->scope, "shared") == 0;
    if (n < 0 || n * dtype_bytes(b->dtype) > LOCAL_ARRAY_LIMIT) {
        fail(g, "an allocation inside a kernel needs a constant size of at most 32 KiB: ", b->name);
        return;
    }
    const char *name = cname(g, b, b->name);
    if (shared) /* GLSL declares shared arrays at file scope */
        sb_printf(g->shared_decls, "shared %s %s[%lld];\n", ctype(g, b->dtype), name, (long long)(n > 0 ? n : 1));
    else {
        sb_printf(g->out, "%s %s[%lld];", ctype(g, b->dtype), name, (long long)(n > 0 ? n : 1));
        line(g);
    }
    emit_stmt(g, s->alloc.body);
}

/* A loop bound to a launch axis: its var is the axis index; guarded when the launch covers
 * more than this loop (another loop on the axis is longer). */
static void emit_thread_loop(cgen *g, const mlcc_stmt *s, int axis) {
    const char *v = cname(g, s->for_.var, s->for_.var->var.name);
    static const char *const builtin[6] = {"gl_WorkGroupID.x", "gl_WorkGroupID.y", "gl_WorkGroupID.z",
                                           "gl_LocalInvocationID.x", "gl_LocalInvocationID.y", "gl_LocalInvocationID.z"};
    const char *index = axis == 0 && g->fold_x ? "mlcc_bx" : builtin[axis];
    const char *t = ctype(g, s->for_.var->dtype);
    sb_printf(g->out, "{ const %s %s = %s(%s) + ", t, v, t, index);
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
    const char *v = cname(g, s->for_.var, s->for_.var->var.name);
    int was = g->thread_dependent;
    sb_printf(g->out, "for (%s %s = ", ctype(g, s->for_.var->dtype), v);
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

/* ---- subgroup reductions ----
 * The cross-thread rule (gpu_reduction.c) ends with a tree in shared memory: log2(T) steps
 *     for tx in threadIdx.x(T): if tx < half && tx + half < T: red[tx] = red[tx] (+) red[tx + half]
 * with a barrier after each. Where the device has subgroup arithmetic the runtime compiles the
 * kernel with MLCC_SUBGROUP_ARITH 1 and the steps become one subgroupAdd/Max/Min/Mul per
 * subgroup, the subgroups' results combined by one thread: two barriers instead of log2(T). */

/* One step of a tree over shared buffer *red with combiner *kind and this half, or 0. */
static int tree_step(const mlcc_stmt *s, mlcc_buffer **red, mlcc_expr_kind *kind, int64_t *half, int64_t *threads) {
    if (!s || s->kind != STMT_FOR || s->for_.kind != FOR_THREAD_BINDING || !s->for_.thread_tag ||
        strcmp(s->for_.thread_tag, "threadIdx.x") != 0 || !expr_is_int(s->for_.min, 0) || s->for_.extent->kind != EXPR_INT)
        return 0;
    const mlcc_stmt *b = s->for_.body;
    if (!b || b->kind != STMT_IF || b->if_.else_ || !b->if_.then_ || b->if_.then_->kind != STMT_STORE) return 0;
    const mlcc_stmt *st = b->if_.then_;
    const mlcc_expr *v = st->store.value, *tx = s->for_.var;
    if (!gpu_is_shared_scope(st->store.buffer) || st->store.nidx != 1 || st->store.indices[0] != tx) return 0;
    if (v->kind != EXPR_ADD && v->kind != EXPR_MAX && v->kind != EXPR_MIN && v->kind != EXPR_MUL) return 0;
    const mlcc_expr *a = v->bin.a, *o = v->bin.b;
    if (a->kind != EXPR_LOAD || o->kind != EXPR_LOAD || a->load.buffer != st->store.buffer ||
        o->load.buffer != st->store.buffer || a->load.indices[0] != tx)
        return 0;
    const mlcc_expr *oi = o->load.indices[0];
    if (oi->kind != EXPR_ADD || oi->bin.a != tx || oi->bin.b->kind != EXPR_INT) return 0;
    mlcc_dtype t = st->store.buffer->dtype;
    if (!((t.code == DT_FLOAT && t.bits == 32) || (t.code == DT_INT && t.bits == 32)) || t.lanes != 1) return 0;
    *red = st->store.buffer, *kind = v->kind, *half = oi->bin.b->int_value, *threads = s->for_.extent->int_value;
    return 1;
}

/* The length of the tree starting at stmts[i] (0 when there is none: a complete run of steps
 * over one buffer, halves width/2 ... 1, in a kernel whose x workgroup is exactly T). */
static int tree_length(cgen *g, const mlcc_stmt *s, int i) {
    mlcc_buffer *red;
    mlcc_expr_kind kind;
    int64_t half, threads;
    if (!tree_step(s->seq.stmts[i], &red, &kind, &half, &threads)) return 0;
    const gpu_expr_vec *ex = &g->kernel->extents[3];
    if (ex->len != 1 || ex->data[0]->kind != EXPR_INT || ex->data[0]->int_value != threads ||
        g->kernel->extents[4].len || g->kernel->extents[5].len || g->thread_dependent)
        return 0;
    int64_t width = 1;
    while (width < threads) width *= 2;
    int n = 0;
    for (int64_t want = width / 2; want >= 1; want /= 2, n++) {
        mlcc_buffer *r2;
        mlcc_expr_kind k2;
        int64_t h2, t2;
        if (i + n >= s->seq.n || !tree_step(s->seq.stmts[i + n], &r2, &k2, &h2, &t2) || r2 != red || k2 != kind ||
            h2 != want || t2 != threads)
            return 0;
    }
    return n;
}

static void emit_subgroup_tree(cgen *g, const mlcc_stmt *step) {
    const mlcc_stmt *st = step->for_.body->if_.then_;
    const char *red = cname(g, st->store.buffer, st->store.buffer->name);
    mlcc_expr_kind kind = st->store.value->kind;
    const char *fn = kind == EXPR_ADD ? "subgroupAdd" : kind == EXPR_MAX ? "subgroupMax" : kind == EXPR_MIN ? "subgroupMin" : "subgroupMul";
    const char *t = ctype(g, st->store.buffer->dtype);
    sb_printf(g->out, "{ %s mlcc_v = %s(%s[gl_LocalInvocationID.x]);", t, fn, red);
    line(g);
    sb_append(g->out, "  memoryBarrierShared(); barrier();");
    line(g);
    sb_printf(g->out, "  if (subgroupElect()) %s[gl_SubgroupID] = mlcc_v;", red);
    line(g);
    sb_append(g->out, "  memoryBarrierShared(); barrier();");
    line(g);
    sb_printf(g->out, "  if (gl_LocalInvocationID.x == 0u) for (uint mlcc_i = 1u; mlcc_i < gl_NumSubgroups; mlcc_i++) %s[0] = ", red);
    if (kind == EXPR_ADD) sb_printf(g->out, "%s[0] + %s[mlcc_i]; }", red, red);
    else if (kind == EXPR_MUL) sb_printf(g->out, "%s[0] * %s[mlcc_i]; }", red, red);
    else sb_printf(g->out, "%s(%s[0], %s[mlcc_i]); }", kind == EXPR_MAX ? "max" : "min", red, red);
    g->uses_subgroup = 1;
}

static void emit_seq(cgen *g, const mlcc_stmt *s) {
    for (int i = 0; i < s->seq.n; i++) {
        if (i) line(g);
        if (i && g->kernel->uses_shared && gpu_needs_barrier(gpu_shared_access(s->seq.stmts[i - 1]), gpu_shared_access(s->seq.stmts[i])))
            emit_sync(g);
        int n = g->kernel->uses_shared ? tree_length(g, s, i) : 0;
        if (n > 0) {
            /* the last step's barrier (below, before the reader) follows either way */
            sb_append(g->out, "#if MLCC_SUBGROUP_ARITH");
            line(g);
            emit_subgroup_tree(g, s->seq.stmts[i]);
            line(g);
            sb_append(g->out, "#else");
            line(g);
            for (int k = 0; k < n; k++) {
                if (k) {
                    line(g);
                    emit_sync(g);
                }
                emit_stmt(g, s->seq.stmts[i + k]);
            }
            line(g);
            sb_append(g->out, "#endif");
            i += n - 1;
            continue;
        }
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
        emit_access(g, s->store.buffer, s->store.indices, s->store.nidx);
        sb_append(g->out, " = ");
        emit_expr(g, s->store.value);
        sb_append_char(g->out, ';');
        return;
    case STMT_ALLOCATE: emit_device_allocate(g, s); return;
    case STMT_IF: {
        int was = g->thread_dependent;
        g->thread_dependent = 1; /* conservatively: the condition may differ between invocations */
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
        /* TIR's intrinsics have no side effects GLSL could keep */
        sb_append(g->out, "/* evaluate */");
        return;
    case STMT_BLOCK_REALIZE: fail(g, "a block survived lowering", ""); return;
    }
}

/* ---- kernels and host code ---- */

typedef struct emitter {
    cgen host;            /* writes the host wrapper */
    mlcc_strbuf *sources; /* the GLSL of every kernel, as C string constants */
    mlcc_strbuf *glsl_all; /* the same, plain (for inspection), or NULL */
    const mlcc_prim_func *func;
    gpu_buffer_vec workspaces; /* global allocations of the function, in order */
    int nkernels;
    int failed;
} emitter;

/* For kernels that shuffle within a subgroup: after glsl_version. */
static const char glsl_shuffle_extensions[] =
    "#extension GL_KHR_shader_subgroup_shuffle : require\n";

/* For kernels with subgroup reductions: the runtime defines MLCC_SUBGROUP_ARITH 1 (after
 * #version) where the device has subgroup arithmetic in compute shaders. */
static const char glsl_subgroup_extensions[] =
    "#ifndef MLCC_SUBGROUP_ARITH\n"
    "#define MLCC_SUBGROUP_ARITH 0\n"
    "#endif\n"
    "#if MLCC_SUBGROUP_ARITH\n"
    "#extension GL_KHR_shader_subgroup_basic : require\n"
    "#extension GL_KHR_shader_subgroup_arithmetic : require\n"
    "#endif\n";

/* GLSL that every kernel starts with: C semantics for what GLSL defines otherwise. */
static const char glsl_version[] =
    "#version 450\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require\n";

/* For kernels with float16 tensors or values (the device needs storageBuffer16BitAccess and
 * shaderFloat16; the runtime checks at the first launch): after glsl_version. */
static const char glsl_f16_extensions[] =
    "#extension GL_EXT_shader_16bit_storage : require\n"
    "#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require\n";
static const char glsl_f16_helpers[] =
    "float16_t mlcc_min(float16_t a, float16_t b) { return a < b ? a : b; }\n"
    "float16_t mlcc_max(float16_t a, float16_t b) { return a > b ? a : b; }\n"
    "float16_t mlcc_mod(float16_t a, float16_t b) { return a - b * trunc(a / b); }\n"
    "float16_t mlcc_floordiv(float16_t a, float16_t b) { return floor(a / b); }\n"
    "float16_t mlcc_floormod(float16_t a, float16_t b) { return a - floor(a / b) * b; }\n";

static const char glsl_prelude[] =
    "layout(local_size_x_id = 0, local_size_y_id = 1, local_size_z_id = 2) in;\n"
    "int64_t mlcc_mod(int64_t a, int64_t b) { return a - (a / b) * b; }\n"
    "int mlcc_mod(int a, int b) { return a - (a / b) * b; }\n"
    "float mlcc_mod(float a, float b) { return a - b * trunc(a / b); }\n"
    "float mlcc_fmod(float a, float b) { return a - b * trunc(a / b); }\n"
    "int64_t mlcc_floordiv(int64_t a, int64_t b) { int64_t q = a / b; return (mlcc_mod(a, b) != 0l && ((a < 0l) != (b < 0l))) ? q - 1l : q; }\n"
    "int64_t mlcc_floormod(int64_t a, int64_t b) { int64_t m = mlcc_mod(a, b); return (m != 0l && ((m < 0l) != (b < 0l))) ? m + b : m; }\n"
    "int mlcc_floordiv(int a, int b) { int q = a / b; return (mlcc_mod(a, b) != 0 && ((a < 0) != (b < 0))) ? q - 1 : q; }\n"
    "int mlcc_floormod(int a, int b) { int m = mlcc_mod(a, b); return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m; }\n"
    "float mlcc_floordiv(float a, float b) { return floor(a / b); }\n"
    "float mlcc_floormod(float a, float b) { return a - floor(a / b) * b; }\n"
    "int64_t mlcc_min(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "int64_t mlcc_max(int64_t a, int64_t b) { return a > b ? a : b; }\n"
    "int mlcc_min(int a, int b) { return a < b ? a : b; }\n"
    "int mlcc_max(int a, int b) { return a > b ? a : b; }\n"
    "float mlcc_min(float a, float b) { return a < b ? a : b; }\n"
    "float mlcc_max(float a, float b) { return a > b ? a : b; }\n"
    "double mlcc_min(double a, double b) { return a < b ? a : b; }\n"
    "double mlcc_max(double a, double b) { return a > b ? a : b; }\n"
    "int64_t mlcc_abs(int64_t a) { return a < 0l ? -a : a; }\n"
    "int mlcc_abs(int a) { return a < 0 ? -a : a; }\n"
    "float mlcc_round(float x) { return sign(x) * floor(abs(x) + 0.5); }\n"
    /* tanh through exp overflows to inf/inf for large x; clamp where it is +-1 in float */
    "float mlcc_tanh(float x) { return tanh(clamp(x, -15.0, 15.0)); }\n"
    /* erf: Abramowitz & Stegun 7.1.26 (error below 1.5e-7) */
    "float mlcc_erf(float x) { float t = 1.0 / (1.0 + 0.3275911 * abs(x));\n"
    "    float y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);\n"
    "    return sign(x) * y; }\n";

/* The GLSL of the kernel for statement s; fills k. The push block starts with one uint per
 * buffer (its element offset) and the x grid, which the runtime writes; scalars follow at
 * their natural alignment (*push_offsets, *push_bytes). */
static int emit_kernel_glsl(emitter *em, const mlcc_stmt *s, gpu_kernel_info *k, const char *kname, mlcc_strbuf *glsl,
                            int fold_x, uint32_t *push_offsets, uint32_t *push_bytes) {
    cgen *h = &em->host;
    mlcc_strbuf body = STRBUF_INIT, shared = STRBUF_INIT;
    cgen dg = {0};
    dg.out = &body;
    dg.names = h->names; /* one naming for host and device: parameters keep their names */
    dg.func_name = h->func_name;
    dg.device = 1;
    dg.kernel = k;
    dg.fold_x = fold_x;
    dg.shared_decls = &shared;
    dg.indent = 1;
    line(&dg);
    for (size_t i = 0; i < k->scalars.len; i++) {
        mlcc_expr *v = k->scalars.data[i];
        const char *n = cname(&dg, v, v->var.name);
        sb_printf(&body, "const %s %s = pc.%s;", ctype(&dg, v->dtype), n, n);
        line(&dg);
    }
    if (fold_x) {
        /* x workgroups past the launch's (its fold into y rounds up) do nothing */
        sb_append(&body, "const uint mlcc_bx = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;");
        line(&dg);
        sb_append(&body, "if (mlcc_bx >= pc.mlcc_gx) return;");
        line(&dg);
    }
    emit_stmt(&dg, s);
    mlcc_strbuf decls = STRBUF_INIT;
    dg.out = &decls;
    for (size_t i = 0; i < k->buffers.len; i++) {
        mlcc_buffer *b = k->buffers.data[i];
        const char *n = cname(&dg, b, b->name);
        /* readonly where the kernel does not write it: the driver may use its read-only cache */
        int ro = !u64map_find(&k->stored, (uint64_t)(uintptr_t)b);
        sb_printf(&decls, "layout(std430, set = 0, binding = %zu) %sbuffer Buf%zu { %s d[]; } %s;\n", i,
                  ro ? "restrict readonly " : "restrict ", i, ctype(&dg, b->dtype), n);
    }
    for (size_t i = 0; i < k->scalars.len; i++) ctype(&dg, k->scalars.data[i]->dtype); /* notes float16 */
    sb_append(glsl, glsl_version);
    if (dg.uses_f16) sb_append(glsl, glsl_f16_extensions);
    if (dg.uses_shuffle) sb_append(glsl, glsl_shuffle_extensions);
    if (dg.uses_subgroup) sb_append(glsl, glsl_subgroup_extensions);
    sb_append(glsl, glsl_prelude);
    if (dg.uses_f16) sb_append(glsl, glsl_f16_helpers);
    sb_append(glsl, sb_cstr(&decls));
    sb_free(&decls);
    sb_append(glsl, "layout(push_constant) uniform Push {\n");
    uint32_t off = 0;
    for (size_t i = 0; i < k->buffers.len; i++, off += 4)
        sb_printf(glsl, "    layout(offset = %u) uint o_%s;\n", off, cname(&dg, k->buffers.data[i], k->buffers.data[i]->name));
    sb_printf(glsl, "    layout(offset = %u) uint mlcc_gx;\n", off);
    off += 4;
    for (size_t i = 0; i < k->scalars.len; i++) {
        mlcc_expr *v = k->scalars.data[i];
        uint32_t size = (uint32_t)dtype_bytes(v->dtype);
        if (size < 4) size = 4;
        off = (off + size - 1) / size * size;
        push_offsets[i] = off;
        sb_printf(glsl, "    layout(offset = %u) %s %s;\n", off, ctype(&dg, v->dtype), cname(&dg, v, v->var.name));
        off += size;
    }
    *push_bytes = (off + 7) / 8 * 8;
    sb_append(glsl, "} pc;\n");
    sb_append(glsl, sb_cstr(&shared));
    sb_printf(glsl, "/* %s */\nvoid main() {", kname);
    sb_append(glsl, sb_cstr(&body));
    sb_append(glsl, "\n}\n");
    sb_free(&body);
    sb_free(&shared);
    h->names = dg.names;
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
    for (int a = 0; a < 6; a++)
        for (size_t i = 0; i < k.extents[a].len; i++)
            if (gpu_uses_defined_var(k.extents[a].data[i], &k.defined)) {
                gpu_kernel_info_free(&k);
                return fail(g, "a launch extent depends on a loop variable of the kernel: ", gpu_thread_tags[a]);
            }
    if (k.buffers.len > 30) {
        gpu_kernel_info_free(&k);
        return fail(g, "a kernel with more than 30 buffers: ", kname);
    }
    /* without a y axis of its own, a long x grid can fold into y */
    int fold_x = k.extents[1].len == 0;
    mlcc_strbuf glsl = STRBUF_INIT;
    uint32_t *push_offsets = mlcc_xcalloc(k.scalars.len + 1, sizeof *push_offsets), push_bytes = 0;
    if (emit_kernel_glsl(em, s, &k, kname, &glsl, fold_x, push_offsets, &push_bytes) != 0) {
        sb_free(&glsl);
        free(push_offsets);
        gpu_kernel_info_free(&k);
        return -1;
    }
    sb_printf(em->sources, "static const char mlcc_vk_%s[] =\n    ", kname);
    gpu_append_c_string(em->sources, sb_cstr(&glsl));
    sb_append(em->sources, ";\n\n");
    if (em->glsl_all) sb_append(em->glsl_all, sb_cstr(&glsl));
    sb_free(&glsl);
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
    sb_printf(g->out, "for (int a = 0; a < 6; a++) if (dims[a] < 0 || dims[a] > 2147483647LL) "
                      "{ rc = mlcc_fail(\"%s: launch dimension %%d is %%lld, out of range\", a, (long long)dims[a]); goto done; }",
              kname);
    line(g);
    sb_append(g->out, "uint32_t grid[3] = {(uint32_t)dims[0], (uint32_t)dims[1], (uint32_t)dims[2]};");
    line(g);
    sb_append(g->out, "uint32_t block[3] = {(uint32_t)dims[3], (uint32_t)dims[4], (uint32_t)dims[5]};");
    size_t nbuf = k.buffers.len;
    line(g);
    sb_printf(g->out, "void *bufs[%zu] = {", nbuf ? nbuf : 1);
    for (size_t i = 0; i < nbuf; i++) sb_printf(g->out, "%s%s", i ? ", " : "", cname(g, k.buffers.data[i], k.buffers.data[i]->name));
    sb_printf(g->out, "%s};", nbuf ? "" : "0");
    line(g);
    sb_printf(g->out, "uint32_t elem_bytes[%zu] = {", nbuf ? nbuf : 1);
    for (size_t i = 0; i < nbuf; i++) sb_printf(g->out, "%s%d", i ? ", " : "", dtype_bytes(k.buffers.data[i]->dtype));
    sb_printf(g->out, "%s};", nbuf ? "" : "0");
    line(g);
    sb_printf(g->out, "uint64_t push[%u] = {0};", push_bytes / 8);
    for (size_t i = 0; i < k.scalars.len; i++) {
        mlcc_expr *sv = k.scalars.data[i];
        line(g);
        sb_printf(g->out, "{ %s a = %s; memcpy((char *)push + %u, &a, sizeof a); }", ctype(g, sv->dtype),
                  cname(g, sv, sv->var.name), push_offsets[i]);
    }
    line(g);
    sb_append(g->out, "static void *slot = 0;");
    line(g);
    sb_printf(g->out, "if (mlcc_library_vulkan->launch(&slot, device_id, mlcc_vk_%s, \"%s\", grid, block, bufs, elem_bytes, %zu, push, %u) != 0) { rc = -1; goto done; }",
              kname, kname, nbuf, push_bytes);
    g->indent--;
    line(g);
    sb_append(g->out, "}");
    free(push_offsets);
    gpu_kernel_info_free(&k);
    return 0;
}

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
        return mlcc_set_error("codegen_vulkan: function name '%s' is not a C identifier", block_form->name);
    mlcc_prim_func *f = tir_lower_blocks(block_form);
    cgen *g = &em->host;
    em->func = f;
    g->func_name = f->name;
    gpu_host_backend b = {.host_call = VULKAN_SUBGROUP_SIZE, .device_type = 7, .device = "vulkan", .device_title = "Vulkan", .hooks = "mlcc_library_vulkan",
                          .writer = g, .out = &g->out, .indent = &g->indent, .name = host_name, .type = host_type,
                          .expr = host_expr, .kernel = host_kernel, .kernel_ctx = em, .workspaces = &em->workspaces};
    int rc = gpu_host_emit_function(&b, f);
    return rc != 0 || g->failed ? -1 : 0;
}

mlcc_prim_func *vulkan_schedule(const mlcc_prim_func *f) {
    mlcc_prim_func *portable = gpu_default_schedule_portable(f);
    mlcc_prim_func *warps = portable && portable != f ? gpu_schedule_attn_decode(f) : NULL;
    if (!warps) return portable;
    /* the decode attention's warp schedule (32-lane shuffles) where subgroups have 32 lanes or
     * more (NVIDIA 32, AMD 64); the portable one elsewhere (lavapipe 8, some Intel 8 or 16) */
    mlcc_prim_func *out = prim_func_copy(portable);
    mlcc_expr *size = ir_call(DT_I64, VULKAN_SUBGROUP_SIZE, NULL, 0);
    out->body = ir_if(ir_ge(size, ir_int(32)), warps->body, portable->body);
    return out;
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

/* What the Vulkan part adds to codegen_c's prelude: the hook table the loader fills. */
static const char host_prelude[] =
    "\n/* ---- Vulkan kernels (mlcc codegen_vulkan) ---- */\n"
    "#include <string.h>\n"
    "typedef struct {\n"
    "    int (*launch)(void **slot, int device_id, const char *glsl, const char *kernel,\n"
    "                  const uint32_t grid[3], const uint32_t block[3], void *const *buffers,\n"
    "                  const uint32_t *elem_bytes, int nbuf, void *push, uint32_t push_bytes);\n"
    "    void *(*alloc)(int device_id, size_t nbytes);\n"
    "    void (*free)(int device_id, void *ptr);\n"
    "    int (*subgroup_size)(int device_id);\n"
    "} mlcc_vulkan_hooks;\n"
    "const mlcc_vulkan_hooks *mlcc_library_vulkan = 0;\n"
    "static int mlcc_vk_subgroup_size(int device_id) {\n"
    "    return mlcc_library_vulkan->subgroup_size ? mlcc_library_vulkan->subgroup_size(device_id) : 0;\n"
    "}\n"
    "const char mlcc_library_target[] = \"vulkan\";\n\n";

int codegen_vulkan(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out, mlcc_strbuf *glsl) {
    mlcc_strbuf host = STRBUF_INIT, sources = STRBUF_INIT;
    int rc = 0;
    for (int i = 0; i < nfuncs && rc == 0; i++) {
        if (codegen_cuda_is_host_kernel(funcs[i])) continue;
        emitter em = {0};
        em.host.out = &host;
        em.sources = &sources;
        em.glsl_all = glsl;
        static const char *reserved[] = {
            "args", "type_codes", "num_args", "ret", "ret_type_code", "resource", "expect", "d", "a", "e",
            "dims", "grid", "block", "slot", "device_id", "rc", "bufs", "elem_bytes", "push", "pc", "main",
            "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
            "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
            "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
            "volatile", "while", "bool", "true", "false", "NULL", "free", "malloc", "memcpy", "abs", "min", "max",
            "exp", "log", "sqrt", "tanh", "pow", "floor", "ceil", "round", "sin", "cos", "sign", "clamp", "trunc",
            "uint", "int64_t", "uint64_t", "in", "out", "inout", "uniform", "buffer", "shared", "layout",
            "coherent", "readonly", "writeonly", "precise", "invariant", "flat", "smooth", "centroid", "sample",
            "patch", "discard", "lowp", "mediump", "highp", "precision", "attribute", "varying", "subroutine",
            "common", "partition", "active", "input", "output", "filter", "sizeof", "cast", "namespace",
            "using", "barrier", "vec2", "vec3", "vec4", "ivec2", "ivec3", "ivec4", "uvec2", "uvec3", "uvec4",
            "mat2", "mat3", "mat4", "dvec2", "dvec3", "dvec4", "bvec2", "bvec3", "bvec4", "texture", "image",
            "sampler", "noperspective", "superp", "fixed", "hvec2", "fvec2", "interface", "template", "this",
            "class", "external", "half", "lf", "Push", NULL};
        cg_names_init(&em.host.names, reserved);
        rc = emit_function(&em, funcs[i]);
        cg_names_free(&em.host.names);
    }
    if (rc == 0) {
        rc = emit_host_kernels(funcs, nfuncs, out);
        sb_append(out, host_prelude);
        sb_append(out, sb_cstr(&sources));
        sb_append(out, sb_cstr(&host));
        sb_append(out, "const char *mlcc_library_function_names[] = {");
        for (int i = 0; i < nfuncs; i++) sb_printf(out, "\"%s\", ", funcs[i]->name);
        sb_append(out, "0};\n");
    }
    sb_free(&host);
    sb_free(&sources);
    return rc;
}
