/* error.c - the thread-local last-error message (see error.h). */
#include "support/error.h"

#include <stdio.h>
#include <string.h>

enum { ERROR_CAPACITY = 4096 };

static _Thread_local char last_error[ERROR_CAPACITY];

int mlcc_set_error_v(const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    return -1;
}

int (mlcc_set_error)(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    mlcc_set_error_v(fmt, ap);
    va_end(ap);
    return -1;
}

int (mlcc_prefix_error)(const char *fmt, ...) {
    char prefix[1024];
    char old[ERROR_CAPACITY];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, last_error, sizeof old);
    size_t n = strlen(prefix);
    if (n > sizeof last_error - 3) n = sizeof last_error - 3;
    memcpy(last_error, prefix, n);
    memcpy(last_error + n, ": ", 2);
    size_t rest = sizeof last_error - n - 3;
    size_t old_len = strnlen(old, rest);
    memcpy(last_error + n + 2, old, old_len);
    last_error[n + 2 + old_len] = '\0';
    return -1;
}

const char *mlcc_last_error(void) {
    return last_error;
}

void mlcc_clear_error(void) {
    last_error[0] = '\0';
}
