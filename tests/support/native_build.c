/* native_build.c - see native_build.h. */
#include "native_build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/file.h"

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
