/* log.c - leveled logging to stderr (see log.h). */
#include "support/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static atomic_int current_level = -1;

static int level_from_env(void) {
    static const char *names[] = {"error", "warn", "info", "debug", "trace"};
    const char *env = getenv("MLCC_LOG");
    if (!env || !*env) return MLCC_LOG_WARN;
    for (int i = 0; i < 5; i++)
        if (strcmp(env, names[i]) == 0) return i;
    if (env[0] >= '0' && env[0] <= '4' && env[1] == '\0') return env[0] - '0';
    fprintf(stderr, "mlcc: MLCC_LOG=%s is not one of error, warn, info, debug, trace\n", env);
    return MLCC_LOG_WARN;
}

int mlcc_log_enabled(mlcc_log_level level) {
    int cur = atomic_load(&current_level);
    if (cur < 0) {
        cur = level_from_env();
        atomic_store(&current_level, cur);
    }
    return (int)level <= cur;
}

void mlcc_log_set_level(mlcc_log_level level) {
    atomic_store(&current_level, (int)level);
}

void mlcc_log_write(mlcc_log_level level, const char *file, int line, const char *fmt, ...) {
    static const char *tags[] = {"error", "warn", "info", "debug", "trace"};
    const char *base = strrchr(file, '/');
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[mlcc %s %s:%d] %s\n", tags[level], base ? base + 1 : file, line, msg);
}
