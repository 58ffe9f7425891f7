/* cmd_show.c - `mlcc show`: look inside a model library (kernels with their origins, the VM
 * program, planned memory, metadata). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli/commands.h"
#include "mlcc/mlcc_runtime.h"
#include "models/model.h"
#include "runtime/vm.h"
#include "support/json.h"
#include "support/strbuf.h"

static void usage(FILE *out) {
    fprintf(out,
            "usage: mlcc show [--kernels | --memory | --program | --metadata] LIB\n"
            "       mlcc show --ir [--kernel NAME] [--max-seq N] MODEL\n"
            "  --kernels   every kernel of the library with its origin, and the runtime builtins it calls\n"
            "  --memory    the planned memory (parameters, KV cache per token, temporary buffers)\n"
            "  --program   the VM program (bytecode of the graph functions)\n"
            "  --metadata  the metadata JSON as stored\n"
            "  --ir        the IRModule of a model (folder or GGUF) as built, before any pass: graph\n"
            "              functions and PrimFuncs (the attention kernels included); --kernel NAME\n"
            "              prints one function\n");
}

static void print_kernels(json_t *meta) {
    json_t *kernels = json_object_get(meta, "kernels"), *k;
    size_t i;
    printf("kernels (%zu):\n", json_array_size(kernels));
    json_array_foreach(kernels, i, k) {
        printf("  %-32s %s\n", json_string_value(json_object_get(k, "name")),
               json_string_value(json_object_get(k, "origin")));
    }
    json_t *builtins = json_object_get(meta, "runtime_builtins"), *b;
    printf("runtime builtins (%zu):\n", json_array_size(builtins));
    json_array_foreach(builtins, i, b) printf("  %s\n", json_string_value(b));
}

static void print_memory(json_t *meta) {
    json_t *mem = json_object_get(meta, "memory");
    if (!json_is_object(mem)) {
        printf("no memory plan recorded in this library\n");
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(mem, key, v) {
        if (json_is_integer(v)) {
            double mib = (double)json_integer_value(v) / (1024.0 * 1024.0);
            printf("  %-28s %14lld bytes  (%.2f MiB)\n", key, (long long)json_integer_value(v), mib);
        }
    }
}

static int show_ir(const char *path, const char *only, int64_t max_seq) {
    mlcc_strbuf out = STRBUF_INIT;
    mlcc_model_options opt = {.max_seq = max_seq};
    int rc = mlcc_model_print_ir(path, &opt, only, &out);
    if (rc == 0) fputs(sb_cstr(&out), stdout);
    else fprintf(stderr, "mlcc show: %s\n", mlcc_last_error());
    sb_free(&out);
    return rc ? 1 : 0;
}

int cmd_show(int argc, char **argv) {
    const char *mode = "--kernels", *path = NULL, *only = NULL;
    int64_t max_seq = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) only = argv[++i];
        else if (strcmp(argv[i], "--max-seq") == 0 && i + 1 < argc) max_seq = atoll(argv[++i]);
        else if (argv[i][0] == '-') mode = argv[i];
        else path = argv[i];
    }
    if (!path) {
        usage(stderr);
        return 2;
    }
    if (strcmp(mode, "--ir") == 0) return show_ir(path, only, max_seq);
    if (strcmp(mode, "--kernels") && strcmp(mode, "--memory") && strcmp(mode, "--program") && strcmp(mode, "--metadata")) {
        fprintf(stderr, "mlcc show: unknown option %s\n", mode);
        usage(stderr);
        return 2;
    }
    MLCCModule *lib = mlcc_module_load(path);
    if (!lib) {
        fprintf(stderr, "mlcc show: %s\n", mlcc_last_error());
        return 1;
    }
    int rc = 0;
    if (strcmp(mode, "--program") == 0) {
        const char *program = mlcc_module_get_symbol(lib, "mlcc_library_vm_program");
        mlcc_vm_exec *exec = program ? mlcc_vm_exec_from_json(program, strlen(program)) : NULL;
        if (!exec) {
            fprintf(stderr, "mlcc show: %s\n", program ? mlcc_last_error() : "the library has no VM program");
            rc = 1;
        } else {
            mlcc_strbuf sb = STRBUF_INIT;
            mlcc_vm_exec_print(exec, &sb);
            fputs(sb_cstr(&sb), stdout);
            sb_free(&sb);
            mlcc_vm_exec_free(exec);
        }
    } else {
        const char *text = mlcc_module_metadata(lib);
        json_t *meta = text ? mlcc_json_loads(text, strlen(text), path) : NULL;
        if (!meta) {
            fprintf(stderr, "mlcc show: %s\n", text ? mlcc_last_error() : "the library has no metadata");
            rc = 1;
        } else if (strcmp(mode, "--metadata") == 0) {
            puts(text);
        } else if (strcmp(mode, "--memory") == 0) {
            print_memory(meta);
        } else {
            print_kernels(meta);
        }
        json_decref(meta);
    }
    mlcc_module_release(lib);
    return rc;
}
