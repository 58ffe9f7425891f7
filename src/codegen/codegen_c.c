/* codegen_c.c - TensorIR -> C11 (see codegen_c.h). */
#include "codegen/codegen_c.h"
#include "codegen/names.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arith/analyzer.h"
#include "ir/functor.h"
#include "kernels/cpu/intrin.h"
#include "schedule/compact.h"
#include "support/error.h"
#include "support/hashmap.h"
#include "transform/lower_tir.h"
#include "transform/lower_quant_prep.h"

typedef struct cgen {
    mlcc_strbuf *out;
    int indent;
    cg_names names; /* var/buffer -> C identifier */
    const char *func_name;
    int failed;
    int in_parallel;
    mlcc_u64map nonneg; /* loop vars known to be >= 0 (loops from a nonnegative min) */
    arith_analyzer *ranges; /* the enclosing loops' vars over their ranges, for buffer offsets */
} cgen;

static void emit_expr(cgen *g, const mlcc_expr *e);
static void emit_stmt(cgen *g, const mlcc_stmt *s);

static int fail(cgen *g, const char *fmt, const char *detail) {
    if (!g->failed) mlcc_set_error(fmt, g->func_name, detail);
    g->failed = 1;
    return -1;
}

/* A C identifier for a var or buffer, unique within the function. */
static const char *cname(cgen *g, const void *node, const char *base) {
    return cg_name(&g->names, node, base, CG_NAMES_C);
}

static const char *ctype(mlcc_dtype t) {
    if (dtype_is_bool(t)) return "uint8_t";
    switch (t.code) {
    case DT_INT:
        return t.bits == 8 ? "int8_t" : t.bits == 16 ? "int16_t" : t.bits == 32 ? "int32_t" : "int64_t";
    case DT_UINT:
        return t.bits == 8 ? "uint8_t" : t.bits == 16 ? "uint16_t" : t.bits == 32 ? "uint32_t" : "uint64_t";
    case DT_FLOAT: return t.bits == 16 ? "_Float16" : t.bits == 32 ? "float" : "double";
    case DT_BFLOAT: return "uint16_t";
    default: return "void *";
    }
}

static void line(cgen *g) {
    sb_append_char(g->out, '\n');
    sb_indent(g->out, g->indent * 4);
}

/* The C math function for an intrinsic on a float type (NULL when not a libm call). */
static const char *libm_name(const char *op, mlcc_dtype t, char *buf, size_t cap) {
    static const char *direct[] = {"exp", "log", "sqrt", "tanh", "erf", "pow", "fabs", "exp2",
                                   "floor", "ceil", "round", "sin", "cos", "log2", "trunc", "fmod", NULL};
    if (!strcmp(op, "exp") && t.bits != 64) return "mlcc_expf"; /* vectorizable (see the prelude) */
    for (int i = 0; direct[i]; i++)
        if (strcmp(op, direct[i]) == 0) {
            snprintf(buf, cap, "%s%s", direct[i], t.bits == 64 ? "" : "f");
            return buf;
        }
    return NULL;
}

static void emit_binary_fn(cgen *g, const char *fn, const mlcc_expr *a, const mlcc_expr *b) {
    sb_printf(g->out, "%s(", fn);
    emit_expr(g, a);
    sb_append(g->out, ", ");
    emit_expr(g, b);
    sb_append_char(g->out, ')');
}

static void emit_minmax(cgen *g, const mlcc_expr *e) {
    const char *suffix = dtype_is_float(e->dtype) ? (e->dtype.bits == 64 ? "f64" : "f32") : "i64";
    char fn[32];
    snprintf(fn, sizeof fn, "mlcc_%s_%s", e->kind == EXPR_MIN ? "min" : "max", suffix);
    emit_binary_fn(g, fn, e->bin.a, e->bin.b);
}

/* A tensor intrinsic call (schedule's tensorize) or the address of a buffer element passed
 * to one. */
static int emit_intrin_call(cgen *g, const mlcc_expr *e) {
    const char *op = e->call.op;
    if (!strcmp(op, "address_of")) {
        const mlcc_expr *l = e->call.nargs == 1 ? e->call.args[0] : NULL;
        if (!l || l->kind != EXPR_LOAD) return fail(g, "codegen_c: function '%s': %s", "address_of needs one buffer element");
        sb_append(g->out, "(&");
        emit_expr(g, l);
        sb_append_char(g->out, ')');
        return 1;
    }
    if (!cpu_intrin_find(op)) return 0;
    sb_printf(g->out, "%s(", op);
    for (int i = 0; i < e->call.nargs; i++) {
        if (i) sb_append(g->out, ", ");
        emit_expr(g, e->call.args[i]);
    }
    sb_append_char(g->out, ')');
    return 1;
}

static void emit_call(cgen *g, const mlcc_expr *e) {
    const char *op = e->call.op;
    char buf[32];
    if (emit_intrin_call(g, e)) return;
    if (!dtype_is_float(e->dtype) || e->dtype.code == DT_BFLOAT) {
        if (strcmp(op, "abs") == 0 || strcmp(op, "fabs") == 0) {
            sb_append(g->out, "mlcc_abs_i64(");
            emit_expr(g, e->call.args[0]);
            sb_append_char(g->out, ')');
            return;
        }
        fail(g, "codegen_c: function '%s': intrinsic '%s' on a non-float type", op);
        return;
    }
    const char *suffix = e->dtype.bits == 64 ? "" : "f";
    if (strcmp(op, "rsqrt") == 0) {
        sb_printf(g->out, "(%s)(1 / sqrt%s(", ctype(e->dtype), suffix);
        emit_expr(g, e->call.args[0]);
        sb_append(g->out, "))");
        return;
    }
    if (strcmp(op, "sigmoid") == 0) {
        sb_printf(g->out, "(%s)(1 / (1 + %s(-(", ctype(e->dtype), libm_name("exp", e->dtype, buf, sizeof buf));
        emit_expr(g, e->call.args[0]);
        sb_append(g->out, "))))");
        return;
    }
    const char *fn = libm_name(op, e->dtype, buf, sizeof buf);
    if (!fn) {
        fail(g, "codegen_c: function '%s': unknown intrinsic '%s'", op);
        return;
    }
    sb_printf(g->out, "(%s)%s(", ctype(e->dtype), fn);
    for (int i = 0; i < e->call.nargs; i++) {
        if (i) sb_append(g->out, ", ");
        emit_expr(g, e->call.args[i]);
    }
    sb_append_char(g->out, ')');
}

/* The flat element offset of indices into a compact row-major buffer (storage_align pads
 * strides), simplified over the enclosing loops' ranges: a fused loop's index (f * 64 + i) // 2048
 * over i in [0, 64) is f // 32, which leaves the inner loop's accesses contiguous for the compiler. */
static mlcc_expr *flat_index(cgen *g, const mlcc_buffer *b, mlcc_expr **indices, int nidx) {
    return arith_simplify(g->ranges, ir_buffer_offset(b, indices, nidx));
}

static void emit_float_const(cgen *g, double v, mlcc_dtype t) {
    if (isinf(v)) {
        sb_printf(g->out, "(%s)(%sINFINITY)", ctype(t), v < 0 ? "-" : "");
    } else if (isnan(v)) {
        sb_printf(g->out, "(%s)NAN", ctype(t));
    } else {
        sb_printf(g->out, "(%s)%a", ctype(t), v);
    }
}

/* Is the int64 expression provably >= 0 from its construction (nonnegative constants, size
 * vars, loop vars from nonnegative mins, and + * // % of such)? */
static int nonneg(cgen *g, const mlcc_expr *e) {
    switch (e->kind) {
    case EXPR_INT: return e->int_value >= 0;
    case EXPR_VAR: return (e->var.flags & VAR_SIZE) || u64map_find(&g->nonneg, (uint64_t)(uintptr_t)e) != NULL;
    case EXPR_ADD:
    case EXPR_MUL:
    case EXPR_MIN:
    case EXPR_MAX: return nonneg(g, e->bin.a) && nonneg(g, e->bin.b);
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD: return nonneg(g, e->bin.a) && e->bin.b->kind == EXPR_INT && e->bin.b->int_value > 0;
    default: return 0;
    }
}

static void emit_expr(cgen *g, const mlcc_expr *e) {
    if (e->dtype.lanes > 1) {
        fail(g, "codegen_c: function '%s': vector expression %s (vector loops are emitted as omp simd; "
                "explicit vector types are not supported yet)", "");
        return;
    }
    switch (e->kind) {
    case EXPR_INT:
        if (dtype_is_bool(e->dtype)) sb_printf(g->out, "%d", e->int_value != 0);
        else if (e->int_value == INT64_MIN) sb_append(g->out, "INT64_MIN");
        else sb_printf(g->out, "(%s)%lldLL", ctype(e->dtype), (long long)e->int_value);
        return;
    case EXPR_FLOAT: emit_float_const(g, e->float_value, e->dtype); return;
    case EXPR_VAR: sb_append(g->out, cname(g, e, e->var.name)); return;
    case EXPR_NOT:
        sb_append(g->out, "(!");
        emit_expr(g, e->un.a);
        sb_append_char(g->out, ')');
        return;
    case EXPR_CAST:
        /* bfloat16 is stored as uint16_t: conversions go through its bits, not C's casts */
        if (e->un.a->dtype.code == DT_BFLOAT && e->dtype.code != DT_BFLOAT) {
            sb_printf(g->out, "((%s)mlcc_k_bf16_f32(", ctype(e->dtype));
            emit_expr(g, e->un.a);
            sb_append(g->out, "))");
            return;
        }
        if (e->dtype.code == DT_BFLOAT && e->un.a->dtype.code != DT_BFLOAT) {
            sb_append(g->out, "mlcc_k_f32_bf16((float)");
            emit_expr(g, e->un.a);
            sb_append_char(g->out, ')');
            return;
        }
        sb_printf(g->out, "((%s)", ctype(e->dtype));
        emit_expr(g, e->un.a);
        sb_append_char(g->out, ')');
        return;
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
        sb_printf(g->out, "%s[", cname(g, e->load.buffer, e->load.buffer->name));
        emit_expr(g, flat_index(g, e->load.buffer, e->load.indices, e->load.nidx));
        sb_append_char(g->out, ']');
        return;
    case EXPR_RAMP:
    case EXPR_BROADCAST: fail(g, "codegen_c: function '%s': %s", "vector construct in scalar code"); return;
    case EXPR_MIN:
    case EXPR_MAX: emit_minmax(g, e); return;
    case EXPR_FLOORDIV:
    case EXPR_FLOORMOD:
        if (dtype_is_float(e->dtype)) {
            const char *fn = e->kind == EXPR_FLOORDIV ? (e->dtype.bits == 64 ? "mlcc_floordiv_f64" : "mlcc_floordiv_f32")
                                                      : (e->dtype.bits == 64 ? "mlcc_floormod_f64" : "mlcc_floormod_f32");
            emit_binary_fn(g, fn, e->bin.a, e->bin.b);
        } else if (dtype_is_int(e->dtype) && e->dtype.bits == 64 && nonneg(g, e)) {
            /* C's truncating / and % agree with floor division here; unlike the helpers they
             * leave index arithmetic that loops can vectorize */
            sb_append_char(g->out, '(');
            emit_expr(g, e->bin.a);
            sb_append(g->out, e->kind == EXPR_FLOORDIV ? " / " : " % ");
            emit_expr(g, e->bin.b);
            sb_append_char(g->out, ')');
        } else {
            emit_binary_fn(g, e->kind == EXPR_FLOORDIV ? "mlcc_floordiv_i64" : "mlcc_floormod_i64", e->bin.a, e->bin.b);
        }
        return;
    default: break;
    }
    static const char *ops[EXPR_KIND_COUNT] = {
        [EXPR_ADD] = " + ", [EXPR_SUB] = " - ", [EXPR_MUL] = " * ", [EXPR_DIV] = " / ",
        [EXPR_MOD] = " % ", [EXPR_EQ] = " == ", [EXPR_NE] = " != ", [EXPR_LT] = " < ",
        [EXPR_LE] = " <= ", [EXPR_GT] = " > ", [EXPR_GE] = " >= ", [EXPR_AND] = " && ",
        [EXPR_OR] = " || "};
    if (e->kind == EXPR_MOD && dtype_is_float(e->dtype)) {
        emit_binary_fn(g, e->dtype.bits == 64 ? "fmod" : "fmodf", e->bin.a, e->bin.b);
        return;
    }
    /* Arithmetic on narrow types is computed in the type itself, as TIR defines it. */
    int narrow = !expr_is_compare(e->kind) && e->kind != EXPR_AND && e->kind != EXPR_OR &&
                 !(dtype_is_int(e->dtype) && e->dtype.bits == 64);
    if (narrow) sb_printf(g->out, "(%s)", ctype(e->dtype));
    sb_append_char(g->out, '(');
    emit_expr(g, e->bin.a);
    sb_append(g->out, ops[e->kind]);
    emit_expr(g, e->bin.b);
    sb_append_char(g->out, ')');
}

int64_t codegen_const_elems(const mlcc_buffer *b) {
    mlcc_expr *n = arith_simplify_expr(ir_buffer_elems(b)); /* padded by storage_align */
    return n->kind == EXPR_INT ? n->int_value : -1;
}

enum { STACK_ALLOC_LIMIT = 16 * 1024 };

static void emit_allocate(cgen *g, const mlcc_stmt *s) {
    const mlcc_buffer *b = s->alloc.buffer;
    const char *name = cname(g, b, b->name);
    int64_t n = codegen_const_elems(b);
    if (n >= 0 && n * dtype_bytes(b->dtype) <= STACK_ALLOC_LIMIT) {
        sb_printf(g->out, "%s %s[%lld] __attribute__((aligned(64)));", ctype(b->dtype), name,
                  (long long)(n > 0 ? n : 1));
        line(g);
        emit_stmt(g, s->alloc.body);
        return;
    }
    /* Heap storage, freed when the scope ends (kernels have no early exits after entry). */
    sb_printf(g->out, "{");
    g->indent++;
    line(g);
    sb_printf(g->out, "int64_t %s_elems = ", name);
    mlcc_expr *elems = ir_buffer_elems(b);
    emit_expr(g, arith_simplify_expr(elems));
    sb_append_char(g->out, ';');
    line(g);
    sb_printf(g->out, "%s *%s = (%s *)mlcc_alloc_workspace(%s_elems * (int64_t)sizeof(%s));",
              ctype(b->dtype), name, ctype(b->dtype), name, ctype(b->dtype));
    line(g);
    sb_printf(g->out, "if (!%s) { mlcc_fail(\"%s: cannot allocate %%lld bytes for '%s'\", (long long)(%s_elems * (int64_t)sizeof(%s))); mlcc_abort_parallel = 1; }",
              name, g->func_name, b->name, name, ctype(b->dtype));
    line(g);
    sb_printf(g->out, "else {");
    g->indent++;
    line(g);
    emit_stmt(g, s->alloc.body);
    g->indent--;
    line(g);
    sb_printf(g->out, "}");
    line(g);
    sb_printf(g->out, "mlcc_free_workspace(%s);", name);
    g->indent--;
    line(g);
    sb_append_char(g->out, '}');
}

static void emit_for(cgen *g, const mlcc_stmt *s) {
    const char *v = cname(g, s->for_.var, s->for_.var->var.name);
    int was_parallel = g->in_parallel;
    switch (s->for_.kind) {
    case FOR_PARALLEL:
        /* Nested parallel regions only oversubscribe: the outermost one wins. */
        if (!g->in_parallel) {
            sb_append(g->out, "#pragma omp parallel for schedule(static) num_threads(mlcc_threads())");
            /* annotation parallel_min_iters: fewer iterations run on the calling thread */
            for (int i = 0; i < s->for_.nannotations; i++) {
                const mlcc_annotation *a = &s->for_.annotations[i];
                if (strcmp(a->key, "parallel_min_iters") || a->value->kind != EXPR_INT || a->value->int_value <= 1) continue;
                sb_append(g->out, " if((");
                emit_expr(g, s->for_.extent);
                sb_printf(g->out, ") >= %lld)", (long long)a->value->int_value);
            }
            line(g);
            g->in_parallel = 1;
        }
        break;
    case FOR_VECTORIZED:
        sb_append(g->out, "#pragma omp simd");
        line(g);
        break;
    case FOR_UNROLLED: {
        mlcc_expr *ext = arith_simplify_expr(s->for_.extent);
        if (ext->kind == EXPR_INT && ext->int_value > 0 && ext->int_value <= 65535)
            sb_printf(g->out, "#pragma GCC unroll %lld", (long long)ext->int_value);
        else
            sb_append(g->out, "#pragma GCC unroll 8");
        line(g);
        break;
    }
    case FOR_THREAD_BINDING:
        fail(g, "codegen_c: function '%s': loop bound to %s needs a GPU target", s->for_.thread_tag);
        return;
    default: break;
    }
    if (nonneg(g, s->for_.min)) u64map_upsert(&g->nonneg, (uint64_t)(uintptr_t)s->for_.var, NULL);
    arith_bind_range(g->ranges, s->for_.var, s->for_.min, s->for_.extent); /* holds wherever the body runs */
    sb_printf(g->out, "for (int64_t %s = ", v);
    emit_expr(g, s->for_.min);
    sb_printf(g->out, "; %s < ", v);
    emit_expr(g, ir_add(s->for_.min, s->for_.extent));
    sb_printf(g->out, "; ++%s) {", v);
    g->indent++;
    line(g);
    emit_stmt(g, s->for_.body);
    g->indent--;
    line(g);
    sb_append_char(g->out, '}');
    g->in_parallel = was_parallel;
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
        emit_expr(g, flat_index(g, s->store.buffer, s->store.indices, s->store.nidx));
        sb_append(g->out, "] = ");
        emit_expr(g, s->store.value);
        sb_append_char(g->out, ';');
        return;
    case STMT_ALLOCATE: emit_allocate(g, s); return;
    case STMT_IF:
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
        return;
    case STMT_SEQ:
        for (int i = 0; i < s->seq.n; i++) {
            if (i) line(g);
            emit_stmt(g, s->seq.stmts[i]);
        }
        return;
    case STMT_EVALUATE:
        sb_append(g->out, "(void)(");
        emit_expr(g, s->eval.value);
        sb_append(g->out, ");");
        return;
    case STMT_BLOCK_REALIZE:
        fail(g, "codegen_c: function '%s': %s", "a block survived lowering");
        return;
    }
}

static const char prelude[] =
    "/* Generated by mlcc. */\n"
    "#include <stdint.h>\n#include <stdlib.h>\n#include <stdio.h>\n#include <stdarg.h>\n"
    "#include <math.h>\n#include <string.h>\n#include <omp.h>\n#include <pthread.h>\n\n"
    "typedef union { int64_t v_int64; double v_float64; void *v_handle; const char *v_str; void *v_tensor; } MLCCValue;\n"
    "typedef struct { int32_t device_type; int32_t device_id; } mlcc_dl_device;\n"
    "typedef struct { uint8_t code; uint8_t bits; uint16_t lanes; } mlcc_dl_dtype;\n"
    "typedef struct { void *data; mlcc_dl_device device; int32_t ndim; mlcc_dl_dtype dtype;\n"
    "                 int64_t *shape; int64_t *strides; uint64_t byte_offset; } mlcc_dl_tensor;\n"
    "void (*mlcc_library_set_error)(const char *msg) = 0;\n"
    "const int32_t mlcc_library_abi_version = 1;\n"
    "static int mlcc_abort_parallel = 0;\n"
    "/* The runtime's thread count (the loader sets this hook: --threads, MLCC_NUM_THREADS and\n"
    "   mlcc_threadpool_set_size govern kernels and runtime alike); without a runtime,\n"
    "   MLCC_NUM_THREADS read once, else OpenMP's default. */\n"
    "int (*mlcc_library_thread_count)(void) = 0;\n"
    "static int mlcc_threads(void) {\n"
    "    if (mlcc_library_thread_count) return mlcc_library_thread_count();\n"
    "    static int n = -1;\n"
    "    if (n < 0) { const char *e = getenv(\"MLCC_NUM_THREADS\"); n = e ? atoi(e) : 0; if (n <= 0) n = omp_get_max_threads(); }\n"
    "    return n;\n}\n"
    "__attribute__((format(printf, 1, 2))) static int mlcc_fail(const char *fmt, ...) {\n"
    "    char msg[512]; va_list ap; va_start(ap, fmt); vsnprintf(msg, sizeof msg, fmt, ap); va_end(ap);\n"
    "    if (mlcc_library_set_error) mlcc_library_set_error(msg); else fprintf(stderr, \"%s\\n\", msg);\n"
    "    return -1;\n}\n"
    "/* Workspaces (intermediates of symbolic size) come from a small cache of freed blocks, so a\n"
    "   kernel called again (every layer, every step) does not map and zero fresh pages; the\n"
    "   cache is freed when the library is unloaded. */\n"
    "typedef struct { char *block; int64_t cap; } mlcc_ws_slot;\n"
    "static mlcc_ws_slot mlcc_ws_cache[8];\n"
    "static pthread_mutex_t mlcc_ws_lock = PTHREAD_MUTEX_INITIALIZER;\n"
    "static void *mlcc_alloc_workspace(int64_t bytes) {\n"
    "    int64_t cap = (bytes > 0 ? bytes : 1) + 63, best = -1;\n"
    "    cap -= cap % 64;\n"
    "    char *b = 0;\n"
    "    pthread_mutex_lock(&mlcc_ws_lock);\n"
    "    for (int i = 0; i < 8; i++)\n"
    "        if (mlcc_ws_cache[i].block && mlcc_ws_cache[i].cap >= cap && mlcc_ws_cache[i].cap <= 2 * cap + 65536 &&\n"
    "            (best < 0 || mlcc_ws_cache[i].cap < mlcc_ws_cache[best].cap)) best = i;\n"
    "    if (best >= 0) { b = mlcc_ws_cache[best].block; mlcc_ws_cache[best].block = 0; }\n"
    "    pthread_mutex_unlock(&mlcc_ws_lock);\n"
    "    if (b) return b + 64;\n"
    "    if (!(b = (char *)aligned_alloc(64, (size_t)cap + 64))) return 0;\n"
    "    memcpy(b, &cap, sizeof cap);\n"
    "    return b + 64;\n"
    "}\n"
    "static void mlcc_free_workspace(void *p) {\n"
    "    if (!p) return;\n"
    "    char *b = (char *)p - 64, *drop = b;\n"
    "    int64_t cap;\n"
    "    memcpy(&cap, b, sizeof cap);\n"
    "    pthread_mutex_lock(&mlcc_ws_lock);\n"
    "    int slot = 0; /* an empty slot, else the smallest block's if this one is larger */\n"
    "    for (int i = 0; i < 8; i++)\n"
    "        if (!mlcc_ws_cache[i].block || (mlcc_ws_cache[slot].block && mlcc_ws_cache[i].cap < mlcc_ws_cache[slot].cap)) slot = i;\n"
    "    if (!mlcc_ws_cache[slot].block || mlcc_ws_cache[slot].cap < cap) {\n"
    "        drop = mlcc_ws_cache[slot].block;\n"
    "        mlcc_ws_cache[slot].block = b;\n"
    "        mlcc_ws_cache[slot].cap = cap;\n"
    "    }\n"
    "    pthread_mutex_unlock(&mlcc_ws_lock);\n"
    "    free(drop);\n"
    "}\n"
    "__attribute__((destructor)) static void mlcc_ws_release(void) {\n"
    "    for (int i = 0; i < 8; i++) { free(mlcc_ws_cache[i].block); mlcc_ws_cache[i].block = 0; }\n"
    "}\n"
    "static inline int64_t mlcc_floordiv_i64(int64_t a, int64_t b) { int64_t q = a / b; return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q; }\n"
    "static inline int64_t mlcc_floormod_i64(int64_t a, int64_t b) { int64_t m = a % b; return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m; }\n"
    "static inline float mlcc_floordiv_f32(float a, float b) { return floorf(a / b); }\n"
    "static inline double mlcc_floordiv_f64(double a, double b) { return floor(a / b); }\n"
    "static inline float mlcc_floormod_f32(float a, float b) { return a - floorf(a / b) * b; }\n"
    "static inline double mlcc_floormod_f64(double a, double b) { return a - floor(a / b) * b; }\n"
    "static inline int64_t mlcc_min_i64(int64_t a, int64_t b) { return a < b ? a : b; }\n"
    "static inline int64_t mlcc_max_i64(int64_t a, int64_t b) { return a > b ? a : b; }\n"
    "static inline int64_t mlcc_abs_i64(int64_t a) { return a < 0 ? -a : a; }\n"
    "static inline float mlcc_min_f32(float a, float b) { return a < b ? a : b; }\n"
    "static inline float mlcc_max_f32(float a, float b) { return a > b ? a : b; }\n"
    "static inline double mlcc_min_f64(double a, double b) { return a < b ? a : b; }\n"
    "static inline double mlcc_max_f64(double a, double b) { return a > b ? a : b; }\n"
    /* e^x in float32 within 1 ulp of libm's expf (checked over every 7th float of [-110, 95]),
     * with its results at +-inf, NaN, overflow and underflow; declared simd so a vectorized loop
     * (silu, softmax, the attention's exponentials) evaluates 16 at a time instead of calling
     * libm once per value, which took most of a decode step's elementwise time. Cephes' method:
     * x = n ln 2 + r, a degree-6 polynomial in r, then 2^n as two exact power-of-two factors (so
     * n down to -150 reaches the subnormals). */
    "#pragma omp declare simd notinbranch\n"
    "static inline float mlcc_expf(float x) {\n"
    "    float c = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x;\n"
    "    c = c == c ? c : 0.0f;\n"
    "    float n = (c * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */\n"
    "    float r = __builtin_fmaf(n, -0.693359375f, c);\n"
    "    r = __builtin_fmaf(n, 2.12194440e-4f, r);\n"
    "    float p = 1.9875691500e-4f;\n"
    "    p = __builtin_fmaf(p, r, 1.3981999507e-3f);\n"
    "    p = __builtin_fmaf(p, r, 8.3334519073e-3f);\n"
    "    p = __builtin_fmaf(p, r, 4.1665795894e-2f);\n"
    "    p = __builtin_fmaf(p, r, 1.6666665459e-1f);\n"
    "    p = __builtin_fmaf(p, r, 5.0000001201e-1f);\n"
    "    p = __builtin_fmaf(p, r * r, r) + 1.0f;\n"
    "    int32_t ni = (int32_t)n, a = ni / 2, b = ni - a;\n"
    "    uint32_t ua = (uint32_t)(a + 127) << 23, ub = (uint32_t)(b + 127) << 23;\n"
    "    float sa, sb;\n"
    "    memcpy(&sa, &ua, 4), memcpy(&sb, &ub, 4);\n"
    "    float y = p * sa * sb;\n"
    "    return x == x ? y : x;\n"
    "}\n"
    "static inline float mlcc_k_bf16_f32(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }\n"
    "static inline uint16_t mlcc_k_f32_bf16(float f) {\n"
    "    uint32_t u; memcpy(&u, &f, 4);\n"
    "    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* NaN stays NaN */\n"
    "    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1)) >> 16); /* round to nearest even */\n"
    "}\n\n";

/* The entry checks of one tensor parameter: kind, ndim, dtype, device, layout, shape. */
static void emit_tensor_header_checks(cgen *g, const mlcc_prim_func *f, int i, mlcc_u64map *bound) {
    const mlcc_buffer *b = f->params[i].buffer;
    const char *bn = cname(g, b, b->name);
    char tb[24];
    line(g);
    sb_printf(g->out, "if (type_codes[%d] != 7) return mlcc_fail(\"%s: argument %d (%s) must be a tensor\");",
              i, f->name, i, b->name);
    line(g);
    sb_printf(g->out, "mlcc_dl_tensor *t_%s = (mlcc_dl_tensor *)args[%d].v_handle;", bn, i);
    line(g);
    sb_printf(g->out, "if (!t_%s) return mlcc_fail(\"%s: argument %d (%s) is NULL\");", bn, f->name, i, b->name);
    line(g);
    sb_printf(g->out, "if (t_%s->ndim != %d) return mlcc_fail(\"%s: %s must have %d dimensions, got %%d\", (int)t_%s->ndim);",
              bn, b->ndim, f->name, b->name, b->ndim, bn);
    line(g);
    sb_printf(g->out, "if (t_%s->dtype.code != %u || t_%s->dtype.bits != %u || t_%s->dtype.lanes != %u) "
                      "return mlcc_fail(\"%s: %s must be %s, got code %%u bits %%u lanes %%u\", (unsigned)t_%s->dtype.code, (unsigned)t_%s->dtype.bits, (unsigned)t_%s->dtype.lanes);",
              bn, dtype_is_bool(b->dtype) ? 1u : b->dtype.code, bn, dtype_is_bool(b->dtype) ? 8u : b->dtype.bits, bn,
              b->dtype.lanes, f->name, b->name, dtype_str(b->dtype, tb), bn, bn, bn);
    line(g);
    sb_printf(g->out, "if (t_%s->device.device_type != 1) return mlcc_fail(\"%s: %s must be on the CPU\");", bn, f->name, b->name);
    /* bind plain size vars at first sight; every other dimension is checked afterwards */
    for (int d = 0; d < b->ndim; d++) {
        const mlcc_expr *s = b->shape[d];
        if (s->kind == EXPR_VAR && !u64map_find(bound, (uint64_t)(uintptr_t)s)) {
            u64map_upsert(bound, (uint64_t)(uintptr_t)s, NULL)->value.p = (void *)(b->shape + d);
            line(g);
            sb_printf(g->out, "int64_t %s = t_%s->shape[%d];", cname(g, s, s->var.name), bn, d);
            line(g);
            sb_printf(g->out, "if (%s < 0) return mlcc_fail(\"%s: %s.shape[%d] (%s) is negative\");",
                      cname(g, s, s->var.name), f->name, b->name, d, s->var.name);
        }
    }
}

/* Shape checks once every size var is bound, then the layout and the data pointer. */
static void emit_tensor_shape_checks(cgen *g, const mlcc_prim_func *f, int i, mlcc_u64map *bound) {
    const mlcc_buffer *b = f->params[i].buffer;
    const char *bn = cname(g, b, b->name);
    for (int d = 0; d < b->ndim; d++) {
        const mlcc_expr *s = b->shape[d];
        mlcc_u64map_entry *binder = s->kind == EXPR_VAR ? u64map_find(bound, (uint64_t)(uintptr_t)s) : NULL;
        if (binder && binder->value.p == (void *)(b->shape + d)) continue; /* this dim bound it */
        line(g);
        {
            sb_printf(g->out, "if (t_%s->shape[%d] != (", bn, d);
            emit_expr(g, s);
            sb_printf(g->out, ")) return mlcc_fail(\"%s: %s.shape[%d] is %%lld, expected %%lld\", (long long)t_%s->shape[%d], (long long)(",
                      f->name, b->name, d, bn, d);
            emit_expr(g, s);
            sb_append(g->out, "));");
        }
    }
    /* compact row-major strides, or none */
    line(g);
    sb_printf(g->out, "if (t_%s->strides) { int64_t expect = 1; for (int d = %d - 1; d >= 0; d--) { "
                      "if (t_%s->shape[d] != 1 && t_%s->strides[d] != expect) return mlcc_fail(\"%s: %s must be compact (row-major)\"); expect *= t_%s->shape[d]; } }",
              bn, b->ndim, bn, bn, f->name, b->name, bn);
    line(g);
    sb_printf(g->out, "%s *%s = (%s *)((char *)t_%s->data + t_%s->byte_offset);", ctype(b->dtype), bn,
              ctype(b->dtype), bn, bn);
}

int codegen_is_c_identifier(const char *s) {
    if (!*s || isdigit((unsigned char)*s)) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_') return 0;
    return 1;
}

static int emit_function(cgen *g, const mlcc_prim_func *block_form) {
    if (!codegen_is_c_identifier(block_form->name))
        return mlcc_set_error("codegen_c: function name '%s' is not a C identifier", block_form->name);
    /* int8-activation quantized matmuls: rows prepared once per parallel loop */
    mlcc_prim_func *f = lower_quant_prep(tir_lower_blocks(block_form));
    /* intermediates shrink to the tile a loop's iteration touches (schedule/compact.c);
     * MLCC_COMPACT_BUFFERS=0 keeps them whole, to compare */
    const char *compact = getenv("MLCC_COMPACT_BUFFERS");
    if (!compact || strcmp(compact, "0")) f = tir_compact_buffers(f);
    g->func_name = f->name;
    mlcc_u64map bound;
    u64map_init(&bound);
    sb_printf(g->out, "int32_t mlcc_fn_%s(const MLCCValue *args, const int *type_codes, int num_args, MLCCValue *ret, int *ret_type_code, void *resource) {", f->name);
    g->indent = 1;
    line(g);
    sb_append(g->out, "(void)ret; (void)ret_type_code; (void)resource;");
    line(g);
    sb_printf(g->out, "if (num_args != %d) return mlcc_fail(\"%s: expected %d arguments, got %%d\", num_args);",
              f->nparams, f->name, f->nparams);
    for (int i = 0; i < f->nparams; i++) {
        if (f->params[i].buffer) {
            emit_tensor_header_checks(g, f, i, &bound);
        } else {
            const mlcc_expr *v = f->params[i].var;
            line(g);
            if (dtype_is_float(v->dtype)) {
                sb_printf(g->out, "if (type_codes[%d] != 2) return mlcc_fail(\"%s: argument %d (%s) must be a float\");", i, f->name, i, v->var.name);
                line(g);
                sb_printf(g->out, "%s %s = (%s)args[%d].v_float64;", ctype(v->dtype), cname(g, v, v->var.name), ctype(v->dtype), i);
            } else {
                sb_printf(g->out, "if (type_codes[%d] != 0) return mlcc_fail(\"%s: argument %d (%s) must be an integer\");", i, f->name, i, v->var.name);
                line(g);
                sb_printf(g->out, "%s %s = (%s)args[%d].v_int64;", ctype(v->dtype), cname(g, v, v->var.name), ctype(v->dtype), i);
            }
            u64map_upsert(&bound, (uint64_t)(uintptr_t)v, NULL)->value.p = NULL;
        }
    }
    for (int i = 0; i < f->nparams; i++)
        if (f->params[i].buffer) emit_tensor_shape_checks(g, f, i, &bound);
    u64map_free(&bound);
    line(g);
    sb_append(g->out, "mlcc_abort_parallel = 0;");
    line(g);
    emit_stmt(g, f->body);
    line(g);
    sb_append(g->out, "return mlcc_abort_parallel ? -1 : 0;");
    g->indent = 0;
    line(g);
    sb_append(g->out, "}\n\n");
    return g->failed ? -1 : 0;
}

static int find_intrin_call(ir_visitor *v, mlcc_expr *e) {
    if (e->kind == EXPR_CALL && cpu_intrin_find(e->call.op)) u64map_upsert(v->ctx, (uint64_t)(uintptr_t)cpu_intrin_find(e->call.op), NULL);
    return 1;
}

/* The sources of the tensor intrinsics the functions call, once each, in registry order. */
static void emit_intrin_sources(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out) {
    mlcc_u64map used;
    u64map_init(&used);
    ir_visitor v = {find_intrin_call, NULL, &used};
    for (int i = 0; i < nfuncs; i++) ir_visit_stmt(&v, funcs[i]->body);
    if (used.count) {
        sb_append(out, cpu_intrin_common_source());
        const cpu_intrin *const *all = cpu_intrin_all();
        for (int i = 0; all[i]; i++)
            if (u64map_find(&used, (uint64_t)(uintptr_t)all[i])) sb_append(out, all[i]->source);
        sb_append_char(out, '\n');
    }
    u64map_free(&used);
}

int codegen_c(mlcc_prim_func **funcs, int nfuncs, mlcc_strbuf *out) {
    sb_append(out, prelude);
    emit_intrin_sources(funcs, nfuncs, out);
    for (int i = 0; i < nfuncs; i++) {
        cgen g = {0};
        g.out = out;
        u64map_init(&g.nonneg);
        g.ranges = arith_new();
        /* reserve the identifiers the prelude and wrapper use */
        /* the wrapper's own names, C keywords, and names the prelude and libc define */
        static const char *reserved[] = {
            "args", "type_codes", "num_args", "ret", "ret_type_code", "resource", "expect", "d",
            "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else",
            "enum", "extern", "float", "for", "goto", "if", "inline", "int", "long", "register",
            "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch",
            "typedef", "union", "unsigned", "void", "volatile", "while", "_Bool", "_Complex",
            "_Float16", "bool", "true", "false", "NULL", "exp", "log", "sqrt", "tanh", "erf", "pow",
            "fabs", "floor", "ceil", "round", "sin", "cos", "free", "malloc", "abs", "main", "mlcc_k_bf16_f32",
            "mlcc_k_f32_bf16", "mlcc_library_thread_count", NULL};
        cg_names_init(&g.names, reserved);
        int rc = emit_function(&g, funcs[i]);
        cg_names_free(&g.names);
        u64map_free(&g.nonneg);
        arith_free(g.ranges);
        if (rc) return -1;
    }
    sb_append(out, "const char *mlcc_library_function_names[] = {");
    for (int i = 0; i < nfuncs; i++) sb_printf(out, "\"%s\", ", funcs[i]->name);
    sb_append(out, "0};\n");
    return 0;
}
