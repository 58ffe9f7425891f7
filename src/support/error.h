/* error.h - the error convention of mlcc.
 *
 * Functions that can fail return an int status (0 = success, -1 = failure) or NULL, and record
 * a human-readable message in a thread-local slot with mlcc_set_error(). The message names what
 * went wrong and where (file, tensor, field, line, column); callers that add context wrap it
 * with mlcc_prefix_error(), so the user sees "loading model.safetensors: tensor 'x': ...". */
#ifndef MLCC_SUPPORT_ERROR_H
#define MLCC_SUPPORT_ERROR_H

#include <stdarg.h>

#if defined(__GNUC__)
#define MLCC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#else
#define MLCC_PRINTF(fmt_index, first_arg)
#endif

/* Records the message; always returns -1 so callers can `return mlcc_set_error(...)`. */
int mlcc_set_error(const char *fmt, ...) MLCC_PRINTF(1, 2);
int mlcc_set_error_v(const char *fmt, va_list ap);
/* Prepends "context: " to the current message; returns -1. */
int mlcc_prefix_error(const char *fmt, ...) MLCC_PRINTF(1, 2);

/* The macros make that -1 visible where the call is compiled. Otherwise gcc cannot tell that
 * `if (parse(x, &v)) return -1; use(v);` only reaches use() when parse() set v, and at -O3
 * -Wmaybe-uninitialized (an error under -Werror) fires on out-values that every error path
 * leaves unset. (The parentheses in error.c's definitions keep the macros out of them.) */
static inline int mlcc_failed(int status) {
    (void)status;
    return -1;
}
#define mlcc_set_error(...) mlcc_failed(mlcc_set_error(__VA_ARGS__))
#define mlcc_prefix_error(...) mlcc_failed(mlcc_prefix_error(__VA_ARGS__))
/* The last message recorded on this thread ("" when none). */
const char *mlcc_last_error(void);
void mlcc_clear_error(void);

#endif
