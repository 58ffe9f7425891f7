/* gpu_host.c - the C host wrapper of a GPU function (see gpu_host.h). */
#include "codegen/gpu_host.h"

#include <stdint.h>
#include <stdlib.h>

#include "arith/analyzer.h"
#include "support/hashmap.h"
#include "support/vec.h"

static void line(const gpu_host_backend *b) {
    sb_append_char(*b->out, '\n');
    sb_indent(*b->out, *b->indent * 4);
}

static const char *name_of(const gpu_host_backend *b, const void *node, const char *base) {
    return b->name(b->writer, node, base);
}

/* Checks and binds scalar argument i. */
static void emit_scalar_param(const gpu_host_backend *b, const mlcc_prim_func *f, int i,
                              mlcc_u64map *bound) {
    const mlcc_expr *v = f->params[i].var;
    int flt = dtype_is_float(v->dtype);
    line(b);
    sb_printf(*b->out,
              "if (type_codes[%d] != %d) return mlcc_fail(\"%s: argument %d (%s) must be %s\");", i,
              flt ? 2 : 0, f->name, i, v->var.name, flt ? "a float" : "an integer");
    line(b);
    sb_printf(*b->out, "%s %s = (%s)args[%d].%s;", b->type(b->writer, v->dtype),
              name_of(b, v, v->var.name), b->type(b->writer, v->dtype), i,
              flt ? "v_float64" : "v_int64");
    u64map_upsert(bound, (uint64_t)(uintptr_t)v, NULL);
}

/* Checks tensor argument i (handle, rank, dtype, device) and binds the shape vars it is the
 * first to carry (bound maps each var to the shape slot that binds it). */
static void emit_tensor_param(const gpu_host_backend *b, const mlcc_prim_func *f, int i,
                              mlcc_u64map *bound) {
    const mlcc_buffer *buf = f->params[i].buffer;
    mlcc_strbuf *o = *b->out;
    const char *bn = name_of(b, buf, buf->name);
    char tb[24];
    line(b);
    sb_printf(o,
              "if (type_codes[%d] != 7 || !args[%d].v_handle) return mlcc_fail(\"%s: argument %d "
              "(%s) must be a tensor\");",
              i, i, f->name, i, buf->name);
    line(b);
    sb_printf(o, "mlcc_dl_tensor *t_%s = (mlcc_dl_tensor *)args[%d].v_handle;", bn, i);
    line(b);
    sb_printf(o,
              "if (t_%s->ndim != %d) return mlcc_fail(\"%s: %s must have %d dimensions, got %%d\", "
              "(int)t_%s->ndim);",
              bn, buf->ndim, f->name, buf->name, buf->ndim, bn);
    line(b);
    sb_printf(o,
              "if (t_%s->dtype.code != %u || t_%s->dtype.bits != %u || t_%s->dtype.lanes != %u) "
              "return mlcc_fail(\"%s: %s must be %s, got code %%u bits %%u\", "
              "(unsigned)t_%s->dtype.code, (unsigned)t_%s->dtype.bits);",
              bn, dtype_is_bool(buf->dtype) ? 1u : buf->dtype.code, bn,
              dtype_is_bool(buf->dtype) ? 8u : buf->dtype.bits, bn, buf->dtype.lanes, f->name,
              buf->name, dtype_str(buf->dtype, tb), bn, bn);
    line(b);
    sb_printf(
        o,
        "if (t_%s->device.device_type != %d) return mlcc_fail(\"%s: %s must be on a %s device\");",
        bn, b->device_type, f->name, buf->name, b->device_title);
    line(b);
    sb_printf(o,
              "if (device_id < 0) device_id = t_%s->device.device_id; else if "
              "(t_%s->device.device_id != device_id) "
              "return mlcc_fail(\"%s: %s is on %s:%%d, other arguments on %s:%%d\", "
              "(int)t_%s->device.device_id, device_id);",
              bn, bn, f->name, buf->name, b->device, b->device, bn);
    for (int d = 0; d < buf->ndim; d++) {
        const mlcc_expr *s = buf->shape[d];
        if (s->kind != EXPR_VAR || u64map_find(bound, (uint64_t)(uintptr_t)s)) continue;
        u64map_upsert(bound, (uint64_t)(uintptr_t)s, NULL)->value.p = (void *)(buf->shape + d);
        const char *sn = name_of(b, s, s->var.name);
        line(b);
        sb_printf(o, "int64_t %s = t_%s->shape[%d];", sn, bn, d);
        line(b);
        sb_printf(o, "if (%s < 0) return mlcc_fail(\"%s: %s.shape[%d] is negative\");", sn, f->name,
                  buf->name, d);
    }
}

/* The shapes a tensor argument does not bind are checked against their expressions; its
 * strides must be row-major; its data pointer. */
static void emit_tensor_shape_checks(const gpu_host_backend *b, const mlcc_prim_func *f,
                                     const mlcc_buffer *buf, mlcc_u64map *bound) {
    const char *bn = name_of(b, buf, buf->name);
    for (int d = 0; d < buf->ndim; d++) {
        const mlcc_expr *s = buf->shape[d];
        mlcc_u64map_entry *binder =
            s->kind == EXPR_VAR ? u64map_find(bound, (uint64_t)(uintptr_t)s) : NULL;
        if (binder && binder->value.p == (void *)(buf->shape + d)) continue;
        line(b);
        sb_printf(*b->out, "if (t_%s->shape[%d] != (", bn, d);
        b->expr(b->writer, s);
        sb_printf(*b->out,
                  ")) return mlcc_fail(\"%s: %s.shape[%d] is %%lld, expected %%lld\", (long "
                  "long)t_%s->shape[%d], (long long)(",
                  f->name, buf->name, d, bn, d);
        b->expr(b->writer, s);
        sb_append(*b->out, "));");
    }
    line(b);
    sb_printf(*b->out,
              "if (t_%s->strides) { int64_t expect = 1; for (int d = %d - 1; d >= 0; d--) { "
              "if (t_%s->shape[d] != 1 && t_%s->strides[d] != expect) return mlcc_fail(\"%s: %s "
              "must be compact (row-major)\"); expect *= t_%s->shape[d]; } }",
              bn, buf->ndim, bn, bn, f->name, buf->name, bn);
    line(b);
    sb_printf(*b->out, "void *%s = (char *)t_%s->data + t_%s->byte_offset;", bn, bn, bn);
}

static void emit_entry_checks(const gpu_host_backend *b, const mlcc_prim_func *f) {
    mlcc_u64map bound;
    u64map_init(&bound);
    line(b);
    sb_printf(
        *b->out,
        "if (num_args != %d) return mlcc_fail(\"%s: expected %d arguments, got %%d\", num_args);",
        f->nparams, f->name, f->nparams);
    line(b);
    sb_append(*b->out, "int device_id = -1;");
    for (int i = 0; i < f->nparams; i++) {
        if (f->params[i].buffer)
            emit_tensor_param(b, f, i, &bound);
        else
            emit_scalar_param(b, f, i, &bound);
    }
    for (int i = 0; i < f->nparams; i++)
        if (f->params[i].buffer) emit_tensor_shape_checks(b, f, f->params[i].buffer, &bound);
    line(b);
    sb_printf(*b->out,
              "if (device_id < 0) return mlcc_fail(\"%s: no tensor argument tells the device\");",
              f->name);
    line(b);
    sb_printf(*b->out,
              "if (!%s) return mlcc_fail(\"%s library loaded without the runtime's %s hooks\");",
              b->hooks, b->device_title, b->device_title);
    u64map_free(&bound);
}

/* The host's part of the body: sequences, choices between kernels the host makes by the sizes
 * of the call, device workspaces between kernels; kernels go to the backend. */
static int emit_host_stmt(const gpu_host_backend *b, mlcc_stmt *s) {
    if (!s) return 0;
    if (s->kind == STMT_SEQ) {
        for (int i = 0; i < s->seq.n; i++)
            if (emit_host_stmt(b, s->seq.stmts[i]) != 0) return -1;
        return 0;
    }
    if (s->kind == STMT_IF && gpu_host_condition(s->if_.cond, b->host_call)) {
        line(b);
        sb_append(*b->out, "if (");
        b->expr(b->writer, s->if_.cond);
        sb_append(*b->out, ") {");
        (*b->indent)++;
        int rc = emit_host_stmt(b, s->if_.then_);
        (*b->indent)--;
        line(b);
        sb_append(*b->out, "}");
        if (s->if_.else_) {
            sb_append(*b->out, " else {");
            (*b->indent)++;
            rc |= emit_host_stmt(b, s->if_.else_);
            (*b->indent)--;
            line(b);
            sb_append(*b->out, "}");
        }
        return rc ? -1 : 0;
    }
    if (s->kind == STMT_ALLOCATE && gpu_is_global_scope(s->alloc.buffer)) {
        /* declared at the top of the wrapper and given back at its end, on the error path too */
        mlcc_buffer *buf = s->alloc.buffer;
        const char *name = name_of(b, buf, buf->name);
        vec_push(b->workspaces, buf);
        line(b);
        sb_append(*b->out, "{ int64_t elems = ");
        b->expr(b->writer, arith_simplify_expr(ir_buffer_elems(buf)));
        sb_printf(*b->out, "; %s = %s->alloc(device_id, (size_t)(elems > 0 ? elems : 1) * %d); }", name, b->hooks,
                  dtype_bytes(buf->dtype));
        line(b);
        sb_printf(*b->out, "if (!%s) { rc = -1; goto done; }", name);
        if (emit_host_stmt(b, s->alloc.body) != 0) return -1;
        line(b);
        sb_printf(*b->out, "%s->free(device_id, %s); %s = 0;", b->hooks, name, name);
        return 0;
    }
    return b->kernel(b->kernel_ctx, s);
}

int gpu_host_emit_function(const gpu_host_backend *b, const mlcc_prim_func *f) {
    sb_printf(*b->out,
              "int32_t mlcc_fn_%s(const MLCCValue *args, const int *type_codes, int num_args, "
              "MLCCValue *ret, int *ret_type_code, void *resource) {",
              f->name);
    *b->indent = 1;
    line(b);
    sb_append(*b->out, "(void)ret; (void)ret_type_code; (void)resource;");
    emit_entry_checks(b, f);
    /* the body first, so that the workspaces it allocates are known for the declarations */
    mlcc_strbuf body = STRBUF_INIT, *outer = *b->out;
    *b->out = &body;
    int rc = emit_host_stmt(b, f->body);
    *b->out = outer;
    line(b);
    sb_append(outer, "int rc = 0;");
    gpu_buffer_vec *ws = b->workspaces;
    for (size_t i = 0; i < ws->len; i++) {
        line(b);
        sb_printf(outer, "void *%s = 0;", name_of(b, ws->data[i], ws->data[i]->name));
    }
    sb_append(outer, sb_cstr(&body));
    sb_free(&body);
    line(b);
    sb_append(outer, "goto done;");
    *b->indent = 0;
    line(b);
    sb_append(outer, "done:");
    *b->indent = 1;
    for (size_t i = 0; i < ws->len; i++) {
        const char *name = name_of(b, ws->data[i], ws->data[i]->name);
        line(b);
        sb_printf(outer, "if (%s) %s->free(device_id, %s);", name, b->hooks, name);
    }
    line(b);
    sb_append(outer, "return rc;");
    *b->indent = 0;
    line(b);
    sb_append(outer, "}\n\n");
    vec_free(ws);
    return rc;
}
