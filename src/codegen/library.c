/* library.c - model libraries: kernels + VM program + metadata in one shared object
 * (see library.h). */
#include "codegen/library.h"

#include <stdlib.h>
#include <string.h>

#include "codegen/codegen_c.h"
#include "codegen/codegen_cuda.h"
#include "codegen/codegen_vulkan.h"
#include "codegen/jit.h"
#include "support/strbuf.h"

enum { LIBRARY_FORMAT_VERSION = 1 };

/* A C string literal for arbitrary text, in lines of bounded length; octal escapes are always
 * three digits so a following digit cannot extend them. */
static void append_c_string(mlcc_strbuf *out, const char *s) {
    sb_append(out, "\"");
    int col = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') sb_printf(out, "\\%c", *p), col += 2;
        else if (*p < 32 || *p >= 127 || *p == '?') sb_printf(out, "\\%03o", *p), col += 4;
        else sb_append_char(out, (char)*p), col++;
        if (col >= 100) {
            sb_append(out, "\"\n    \"");
            col = 0;
        }
    }
    sb_append(out, "\"");
}

static const char *kernel_origin(const mlcc_prim_func *f) {
    return f->origin ? f->origin : "unknown";
}

json_t *mlcc_library_metadata(const mlcc_library_spec *spec) {
    return mlcc_library_metadata_target(spec, "c");
}

json_t *mlcc_library_metadata_target(const mlcc_library_spec *spec, const char *target) {
    json_t *meta = spec->metadata ? json_deep_copy(spec->metadata) : json_object();
    json_object_set_new(meta, "format_version", json_integer(LIBRARY_FORMAT_VERSION));
    json_object_set_new(meta, "target", json_string(target));
    json_t *kernels = json_array();
    for (int i = 0; i < spec->nkernels; i++)
        json_array_append_new(kernels, json_pack("{s:s,s:s}", "name", spec->kernels[i]->name, "origin",
                                                 kernel_origin(spec->kernels[i])));
    json_object_set_new(meta, "kernels", kernels);
    json_t *funcs = json_array();
    for (int i = 0; spec->program && i < spec->program->num_funcs; i++)
        json_array_append_new(funcs, json_pack("{s:s,s:i}", "name", spec->program->funcs[i].name, "num_params",
                                               spec->program->funcs[i].num_params));
    json_object_set_new(meta, "functions", funcs);
    json_t *builtins = json_array();
    for (int i = 0; spec->program && i < spec->program->num_callees; i++) {
        const char *name = spec->program->callees[i].name;
        int is_kernel = 0;
        for (int k = 0; k < spec->nkernels; k++) is_kernel |= strcmp(spec->kernels[k]->name, name) == 0;
        if (!is_kernel && spec->program->callees[i].kind == VM_CALLEE_PACKED) json_array_append_new(builtins, json_string(name));
    }
    json_object_set_new(meta, "runtime_builtins", builtins);
    return meta;
}

char *mlcc_library_source(const mlcc_library_spec *spec) {
    return mlcc_library_source_target(spec, "c");
}

char *mlcc_library_source_target(const mlcc_library_spec *spec, const char *target) {
    mlcc_strbuf src = STRBUF_INIT;
    int cuda = strcmp(target, "cuda") == 0, vulkan = strcmp(target, "vulkan") == 0;
    if ((cuda     ? codegen_cuda(spec->kernels, spec->nkernels, &src, NULL)
         : vulkan ? codegen_vulkan(spec->kernels, spec->nkernels, &src, NULL)
                  : codegen_c(spec->kernels, spec->nkernels, &src)) != 0) {
        sb_free(&src);
        return NULL;
    }
    if (spec->program) {
        char *program = mlcc_vm_exec_to_json(spec->program);
        sb_append(&src, "\nconst char mlcc_library_vm_program[] =\n    ");
        append_c_string(&src, program);
        sb_append(&src, ";\n");
        free(program);
    }
    json_t *meta = mlcc_library_metadata_target(spec, target);
    char *text = json_dumps(meta, JSON_INDENT(1) | JSON_SORT_KEYS);
    json_decref(meta);
    sb_append(&src, "\nconst char mlcc_library_metadata[] =\n    ");
    append_c_string(&src, text);
    sb_append(&src, ";\n");
    free(text);
    return sb_detach(&src);
}

int mlcc_build_library(const mlcc_library_spec *spec, const char *out_path) {
    char *src = mlcc_library_source(spec);
    if (!src) return -1;
    int rc = mlcc_jit_compile_to_file(src, out_path);
    free(src);
    return rc;
}
