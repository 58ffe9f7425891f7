/* log.h - leveled logging to stderr.
 *
 * The level comes from the MLCC_LOG environment variable (error, warn, info, debug, trace;
 * default warn), read once. Messages carry the level and the source file:line. */
#ifndef MLCC_SUPPORT_LOG_H
#define MLCC_SUPPORT_LOG_H

#include "support/error.h"

typedef enum {
    MLCC_LOG_ERROR = 0,
    MLCC_LOG_WARN = 1,
    MLCC_LOG_INFO = 2,
    MLCC_LOG_DEBUG = 3,
    MLCC_LOG_TRACE = 4,
} mlcc_log_level;

int mlcc_log_enabled(mlcc_log_level level);
void mlcc_log_set_level(mlcc_log_level level);
void mlcc_log_write(mlcc_log_level level, const char *file, int line, const char *fmt, ...)
    MLCC_PRINTF(4, 5);

#define MLCC_LOG(level, ...)                                                                       \
    do {                                                                                           \
        if (mlcc_log_enabled(level)) mlcc_log_write(level, __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)
#define LOG_ERROR(...) MLCC_LOG(MLCC_LOG_ERROR, __VA_ARGS__)
#define LOG_WARN(...) MLCC_LOG(MLCC_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) MLCC_LOG(MLCC_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) MLCC_LOG(MLCC_LOG_DEBUG, __VA_ARGS__)

#endif
