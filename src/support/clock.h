/* clock.h - the one clock mlcc times things with: monotonic seconds as a double (benchmarks,
 * progress bars, profiles, server timestamps of durations). Not the wall-clock date. */
#ifndef MLCC_SUPPORT_CLOCK_H
#define MLCC_SUPPORT_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC): only differences mean anything. */
double mlcc_now_seconds(void);

#endif
