/* progress.c - progress lines of downloads and conversions (see progress.h). */
#include "hub/progress.h"
#include "support/clock.h"

#include <stdio.h>
#include <unistd.h>

void mlcc_format_bytes(int64_t n, char *buf, int size) {
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(buf, (size_t)size, "%lld B", (long long)n);
    else
        snprintf(buf, (size_t)size, "%.1f %s", v, units[u]);
}

static void format_eta(double seconds, char *buf, int size) {
    if (seconds < 0 || seconds > 1e7) {
        snprintf(buf, (size_t)size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(buf, (size_t)size, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, (size_t)size, "%ld:%02ld", s / 60, s % 60);
}

/* Speed over this run's bytes only, so a resume does not look impossibly fast. */
static double speed(const mlcc_progress *p, double now) {
    double dt = now - p->start_time;
    return dt > 0 ? (double)(p->bytes - p->start_bytes) / dt : 0;
}

static void print_line(mlcc_progress *p, double now, int final) {
    char have[32], total[32], rate[32], eta[32];
    double bps = speed(p, now);
    mlcc_format_bytes(p->bytes, have, sizeof have);
    mlcc_format_bytes(p->total, total, sizeof total);
    mlcc_format_bytes((int64_t)bps, rate, sizeof rate);
    format_eta(p->total > 0 && bps > 0 ? (double)(p->total - p->bytes) / bps : -1, eta, sizeof eta);
    int pct = p->total > 0 ? (int)(100.0 * (double)p->bytes / (double)p->total) : 0;
    if (p->tty) {
        if (final && p->total > 0)
            fprintf(stderr, "\r\033[K%s  %3d%%  %s / %s  %s/s  in %.1f s\n", p->label, pct, have,
                    total, rate, now - p->start_time);
        else if (final)
            fprintf(stderr, "\r\033[K%s  %s  %s/s  in %.1f s\n", p->label, have, rate,
                    now - p->start_time);
        else if (p->total > 0)
            fprintf(stderr, "\r\033[K%s  %3d%%  %s / %s  %s/s  ETA %s", p->label, pct, have, total,
                    rate, eta);
        else
            fprintf(stderr, "\r\033[K%s  %s  %s/s", p->label, have, rate);
    } else if (p->total > 0) {
        fprintf(stderr, "mlcc: %s: %d%% (%s of %s, %s/s, ETA %s)\n", p->label, pct, have, total,
                rate, eta);
    } else {
        fprintf(stderr, "mlcc: %s: %s (%s/s)\n", p->label, have, rate);
    }
    fflush(stderr);
    p->last_print = now;
}

void mlcc_progress_begin(mlcc_progress *p, const char *verb, const char *label, int64_t total, int64_t already,
                         int quiet) {
    p->verb = verb;
    p->label = label;
    p->total = total;
    p->start_bytes = p->bytes = already;
    p->start_time = p->last_print = mlcc_now_seconds();
    p->tty = isatty(2);
    p->quiet = quiet;
    p->last_quarter = total > 0 ? (int)(4 * already / total) : 0;
    if (quiet) return;
    if (p->tty) {
        print_line(p, p->start_time, 0);
        return;
    }
    char size[32];
    mlcc_format_bytes(total, size, sizeof size);
    char resumed[64] = "";
    if (already > 0) {
        char have[32];
        mlcc_format_bytes(already, have, sizeof have);
        snprintf(resumed, sizeof resumed, ", resuming at %s", have);
    }
    const char *space = verb ? " " : "";
    if (total >= 0)
        fprintf(stderr, "mlcc: %s%s%s (%s%s)\n", verb ? verb : "", space, label, size, resumed);
    else
        fprintf(stderr, "mlcc: %s%s%s%s\n", verb ? verb : "", space, label, resumed);
}

void mlcc_progress_update(mlcc_progress *p, int64_t bytes) {
    p->bytes = bytes;
    if (p->quiet) return;
    double now = mlcc_now_seconds();
    if (p->tty) {
        if (now - p->last_print >= 0.1) print_line(p, now, 0);
        return;
    }
    int quarter = p->total > 0 ? (int)(4 * bytes / p->total) : 0;
    /* a line per quarter, but not more than one a second; and one every 10 s when slow */
    if ((quarter > p->last_quarter && quarter < 4 && now - p->last_print >= 1.0) ||
        now - p->last_print >= 10.0) {
        p->last_quarter = quarter;
        print_line(p, now, 0);
    }
}

void mlcc_progress_end(mlcc_progress *p, int ok) {
    if (p->quiet) return;
    double now = mlcc_now_seconds();
    if (p->tty) {
        print_line(p, now, 1);
        return;
    }
    if (!ok) return; /* the error says what happened */
    char have[32], rate[32];
    mlcc_format_bytes(p->bytes, have, sizeof have);
    mlcc_format_bytes((int64_t)speed(p, now), rate, sizeof rate);
    fprintf(stderr, "mlcc: %s: done, %s in %.1f s (%s/s)\n", p->label, have, now - p->start_time,
            rate);
}
