/* clock.c - monotonic seconds (clock.h). */
#include "support/clock.h"

#include <time.h>

double mlcc_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
