/* ticker.h - a line that shows long work is alive: on a terminal, "[mlcc] LABEL ... 12 s"
 * redrawn twice a second from a thread until stopped; elsewhere nothing (the caller logs the
 * outcome). For work with no measurable fraction, such as compiling a model library. */
#ifndef MLCC_CLI_TICKER_H
#define MLCC_CLI_TICKER_H

typedef struct mlcc_ticker mlcc_ticker;

mlcc_ticker *mlcc_ticker_start(const char *label);
/* Stops it, clears the line, and returns the seconds since the start. */
double mlcc_ticker_stop(mlcc_ticker *t);

#endif
