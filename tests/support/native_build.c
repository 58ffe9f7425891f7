/* native_build.c - see native_build.h. */
#include "native_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/file.h"
#include "test.h"

int test_build_and_run(const char *dir, const char *name, const char *source, const char *flags, char **out) {
    char path[256], exe[256], log[256], cmd[4096];
    snprintf(path, sizeof path, "%s/%s.c", dir, name);
    snprintf(exe, sizeof exe, "%s/%s", dir, name);
    snprintf(log, sizeof log, "%s/%s.log", dir, name);
    *out = NULL;
    if (mlcc_write_file_atomic(path, source, strlen(source))) return -1;
    const char *cc = getenv("MLCC_CC") && *getenv("MLCC_CC") ? getenv("MLCC_CC") : "cc";
    snprintf(cmd, sizeof cmd, "%s -std=gnu11 -O2 %s -o %s %s -lm > %s 2>&1 && %s >> %s 2>&1", cc, flags, exe, path, log, exe,
             log);
    int rc = system(cmd);
    *out = mlcc_read_file(log, NULL);
    return rc;
}

int test_host_has_cpu_flag(const char *flag) {
    char *info = mlcc_read_file("/proc/cpuinfo", NULL);
    char word[64];
    snprintf(word, sizeof word, " %s ", flag);
    int has = info && strstr(info, word) != NULL;
    free(info);
    return has;
}

static void check_output(const char *variant, const char *out, const char *want) {
    CHECK_MSG(out && strstr(out, want), "%s variant: expected '%s' in its output: %s", variant,
              want, out ? out : "(none)");
}

void test_run_variants(const char *dir, const char *source, const test_variant *variants, int n) {
    for (int v = 0; v < n; v++) {
        const test_variant *t = &variants[v];
        if (t->needs && !test_host_has_cpu_flag(t->needs)) {
            printf("note: %s variant not run (the host has no %s)\n", t->name, t->needs);
            continue;
        }
        char *out = NULL;
        int rc = test_build_and_run(dir, t->name, source, t->flags, &out);
        CHECK_MSG(rc == 0, "%s variant: %s", t->name, out ? out : "(no output)");
        if (t->expect) check_output(t->name, out, t->expect);
        for (int k = 0; k < 2; k++)
            if (t->also[k].host_flag && test_host_has_cpu_flag(t->also[k].host_flag))
                check_output(t->name, out, t->also[k].expect);
        if (out && rc == 0) printf("%s: %s", t->name, out);
        free(out);
    }
}

void test_remove_dir(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (getenv("MLCC_TEST_KEEP"))
        printf("kept %s\n", dir);
    else if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
}
