/* progress.h - progress of long work over bytes (downloads, weight conversion) on stderr: one
 * updating line (size, speed, ETA) on a terminal; otherwise plain log lines at the start, every
 * 25% or 10 seconds, and the end. */
#ifndef MLCC_HUB_PROGRESS_H
#define MLCC_HUB_PROGRESS_H

#include <stdint.h>

typedef struct mlcc_progress {
    const char *verb;           /* the start line's "downloading LABEL"; NULL: the label alone */
    const char *label;          /* what is worked on, e.g. "org/repo/model.safetensors" */
    int64_t total;              /* -1 when unknown */
    int64_t start_bytes, bytes; /* bytes present when this run began (a resume), and now */
    double start_time, last_print;
    int tty, quiet, last_quarter;
} mlcc_progress;

void mlcc_progress_begin(mlcc_progress *p, const char *verb, const char *label, int64_t total, int64_t already,
                         int quiet);
void mlcc_progress_update(mlcc_progress *p, int64_t bytes);
void mlcc_progress_end(mlcc_progress *p, int ok);
/* "1.5 MiB" into buf. */
void mlcc_format_bytes(int64_t n, char *buf, int size);

#endif
