/* build.c - IRModule -> model library (see build.h). */
#include "codegen/build.h"

#include <stdlib.h>
#include <string.h>

#include "codegen/codegen_cuda.h"
#include "codegen/codegen_vulkan.h"
#include "codegen/jit.h"
#include "codegen/library.h"
#include "schedule/gpu_rules.h"
#include "support/error.h"
#include "transform/pass.h"
#include "transform/vm_lower.h"

static const char *const pipeline[] = {"legalize", "canonicalize_bindings", "annotate_op_pattern", "fuse_ops",
                                       "fuse_tir", "default_schedule", "dead_code_elimination", NULL};

static int is_cuda(const char *target) {
    return target && strcmp(target, "cuda") == 0;
}

static int is_vulkan(const char *target) {
    return target && strcmp(target, "vulkan") == 0;
}

/* Targets whose kernels get the default GPU schedules (thread bindings). */
static int is_gpu(const char *target) {
    return is_cuda(target) || is_vulkan(target);
}

/* MLCC_CUDA_DISPATCH=0 / MLCC_VULKAN_DISPATCH=0 / MLCC_CPU_BLAS=0 keep every kernel generated
 * (to compare with the library dispatch); MLCC_FUSE_ROPE_APPEND=0 keeps K's rope a kernel of
 * its own (to compare with the fusion); MLCC_CUDA_RESHAPE_VIEWS=0 keeps reshapes copies and
 * MLCC_CUDA_FUSE_ADD_NORM=0 residual adds apart from their norms and MLCC_CUDA_FUSE_GEMV=0 decode's
 * norms and silu * up apart from their projections (CUDA); MLCC_CUDA_HALF_ACT=0 keeps
 * prefill activations float32 between kernels and projections (CUDA); MLCC_CUDA_ROPE_Q=0 keeps q's
 * rope a kernel and MLCC_CUDA_ATTN_QKV=0 q, k, v slices of the combined projection (CUDA). */
static int getenv_false(const char *name) {
    const char *v = getenv(name);
    return v && !strcmp(v, "0");
}

/* default_schedule is the CPU's (tensorized CPU intrinsics); GPU targets get their own rules
 * after lowering. */
static mlcc_ir_module *run_pipeline(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target) {
    mlcc_pass_manager pm;
    pm_init(&pm);
    if (is_cuda(target) && !getenv_false("MLCC_CUDA_DISPATCH")) pm_add(&pm, "cuda_dispatch", pass_cuda_dispatch, NULL);
    if (is_cuda(target) && !getenv_false("MLCC_CUDA_DISPATCH") && !getenv_false("MLCC_CUDA_FUSE_GEMV"))
        pm_add(&pm, "fuse_gemv", pass_fuse_gemv, NULL);
    if (is_vulkan(target) && !getenv_false("MLCC_VULKAN_DISPATCH"))
        pm_add(&pm, "vulkan_dispatch", pass_cuda_dispatch, (void *)"mlcc.vulkan.linear_f16");
    if (!is_gpu(target) && !getenv_false("MLCC_CPU_BLAS")) pm_add(&pm, "cpu_dispatch", pass_cpu_dispatch, NULL);
    if (is_cuda(target) && !getenv_false("MLCC_CUDA_RESHAPE_VIEWS"))
        pm_add(&pm, "reshape_views", pass_reshape_views, NULL);
    if (is_cuda(target) && !getenv_false("MLCC_CUDA_FUSE_ADD_NORM"))
        pm_add(&pm, "fuse_add_norm", pass_fuse_add_norm, NULL);
    if (!is_vulkan(target) && !getenv_false("MLCC_FUSE_ROPE_APPEND"))
        pm_add(&pm, "fuse_rope_append", pass_fuse_rope_append, NULL);
    const char *rope_q = getenv("MLCC_CUDA_ROPE_Q"); /* "cpu": on the CPU too (test_fuse_rope_q) */
    if ((is_cuda(target) || (rope_q && !strcmp(rope_q, "cpu") && !is_vulkan(target))) && !getenv_false("MLCC_FUSE_ROPE_APPEND") &&
        !getenv_false("MLCC_CUDA_ROPE_Q"))
        pm_add(&pm, "fuse_rope_q", pass_fuse_rope_q, NULL);
    const char *attn_qkv = getenv("MLCC_CUDA_ATTN_QKV"); /* "cpu": on the CPU too (test_attention_qkv) */
    if ((is_cuda(target) || (attn_qkv && !strcmp(attn_qkv, "cpu") && !is_vulkan(target))) && !getenv_false("MLCC_CUDA_ATTN_QKV"))
        pm_add(&pm, "attention_qkv", pass_attention_qkv, NULL);
    for (int i = 0; pipeline[i]; i++) {
        if ((!is_gpu(target) || strcmp(pipeline[i], "default_schedule")) && pm_add_named(&pm, pipeline[i]) != 0) {
            pm_free(&pm);
            return NULL;
        }
        if (is_cuda(target) && !strcmp(pipeline[i], "fuse_tir") && !getenv_false("MLCC_CUDA_HALF_ACT"))
            pm_add(&pm, "half_activations", pass_half_activations, NULL);
    }
    if (opt && opt->print_after) {
        pm_print_after(&pm, opt->print_after);
        if (opt->printed) pm_set_print_sink(&pm, opt->printed);
    } else if (getenv("MLCC_PRINT_AFTER") && *getenv("MLCC_PRINT_AFTER")) {
        /* `MLCC_PRINT_AFTER=fuse_tir mlcc compile MODEL ...` shows any stage on stderr */
        pm_print_after(&pm, getenv("MLCC_PRINT_AFTER"));
    }
    mlcc_ir_module *out = pm_run(&pm, m);
    pm_free(&pm);
    return out;
}

/* Lowers the module; fills spec (kernels, program, metadata with the memory plan). */
static int lower(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target,
                 mlcc_vm_lowered *low, json_t **meta) {
    mlcc_ir_module *mod = run_pipeline(m, opt, target);
    if (!mod) return -1;
    if (mlcc_vm_lower(mod, low) != 0) return -1;
    if (is_gpu(target))
        for (int i = 0; i < low->nkernels; i++) {
            if (codegen_cuda_is_host_kernel(low->kernels[i])) continue;
            mlcc_prim_func *f = is_cuda(target) ? gpu_default_schedule(low->kernels[i])
                                                : vulkan_schedule(low->kernels[i]);
            if (!f) {
                mlcc_vm_lowered_free(low);
                return -1;
            }
            low->kernels[i] = f;
        }
    *meta = opt && opt->metadata ? json_deep_copy(opt->metadata) : json_object();
    json_object_set(*meta, "memory_plan", low->memory);
    json_t *mem = json_object_get(*meta, "memory");
    if (!json_is_object(mem)) {
        mem = json_object();
        json_object_set_new(*meta, "memory", mem);
    }
    json_object_set(mem, "temporary_bytes", json_object_get(low->memory, "temporary_bytes"));
    return 0;
}

char *mlcc_build_source_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target) {
    if (!target) target = "c";
    if (strcmp(target, "c") != 0 && strcmp(target, "cuda") != 0 && strcmp(target, "vulkan") != 0) {
        mlcc_set_error("unknown target '%s' (known: c, cuda, vulkan)", target);
        return NULL;
    }
    mlcc_vm_lowered low;
    json_t *meta = NULL;
    if (lower(m, opt, target, &low, &meta) != 0) return NULL;
    mlcc_library_spec spec = {low.kernels, low.nkernels, low.exec, meta};
    char *src = mlcc_library_source_target(&spec, target);
    json_decref(meta);
    mlcc_vm_lowered_free(&low);
    return src;
}

char *mlcc_build_cuda_kernel_source(const mlcc_ir_module *m, const mlcc_build_options *opt) {
    mlcc_vm_lowered low;
    json_t *meta = NULL;
    if (lower(m, opt, "cuda", &low, &meta) != 0) return NULL;
    mlcc_strbuf lib = STRBUF_INIT, dev = STRBUF_INIT;
    int rc = codegen_cuda(low.kernels, low.nkernels, &lib, &dev);
    sb_free(&lib);
    json_decref(meta);
    mlcc_vm_lowered_free(&low);
    if (rc != 0) {
        sb_free(&dev);
        return NULL;
    }
    return sb_detach(&dev);
}

char *mlcc_build_vulkan_glsl(const mlcc_ir_module *m, const mlcc_build_options *opt) {
    mlcc_vm_lowered low;
    json_t *meta = NULL;
    if (lower(m, opt, "vulkan", &low, &meta) != 0) return NULL;
    mlcc_strbuf lib = STRBUF_INIT, glsl = STRBUF_INIT;
    int rc = codegen_vulkan(low.kernels, low.nkernels, &lib, &glsl);
    sb_free(&lib);
    json_decref(meta);
    mlcc_vm_lowered_free(&low);
    if (rc != 0) {
        sb_free(&glsl);
        return NULL;
    }
    return sb_detach(&glsl);
}

char *mlcc_build_source(const mlcc_ir_module *m, const mlcc_build_options *opt) {
    return mlcc_build_source_target(m, opt, "c");
}

int mlcc_build_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target,
                      const char *out_path) {
    char *src = mlcc_build_source_target(m, opt, target);
    if (!src) return -1;
    int rc = mlcc_jit_compile_to_file(src, out_path);
    free(src);
    return rc;
}

int mlcc_build(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *out_path) {
    return mlcc_build_target(m, opt, "c", out_path);
}

MLCCVM *mlcc_build_vm_target(const mlcc_ir_module *m, const mlcc_build_options *opt, const char *target) {
    char *src = mlcc_build_source_target(m, opt, target);
    if (!src) return NULL;
    mlcc_jit_module *jm = mlcc_jit_compile_source(src);
    free(src);
    if (!jm) return NULL;
    DLDevice device = is_cuda(target) ? (DLDevice){kDLCUDA, 0}
                      : is_gpu(target) ? (DLDevice){kDLVulkan, 0}
                                       : MLCC_CPU;
    MLCCVM *vm = mlcc_vm_load_library(mlcc_jit_module_path(jm), device);
    mlcc_jit_free(jm); /* the VM keeps its own handle on the library */
    return vm;
}

MLCCVM *mlcc_build_vm(const mlcc_ir_module *m, const mlcc_build_options *opt) {
    return mlcc_build_vm_target(m, opt, "c");
}
