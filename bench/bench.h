/*
 * bench.h: what bench/bulk.c, bench/conn.c and bench/echo.c share
 * (bench/util.c).  Each program defines usage(); the helpers that fail
 * exit through err(3) with status 3, or through usage() with status 2.
 */
#ifndef BENCH_H
#define BENCH_H

#include <netinet/in.h>

/* Defined by each program: print its synopsis, exit 2. */
void	usage(void) __attribute__((__noreturn__));

/* A command-line number in [min, max], or warnx and usage(). */
long long	num_arg(const char *arg, long long min, long long max);

/* CLOCK_MONOTONIC in seconds. */
double	now(void);

/* 127.0.0.1:port. */
struct sockaddr_in	loopback(unsigned short port);

/*
 * A TCP socket (SOCK_CLOEXEC | flags, SO_REUSEADDR) bound to
 * 127.0.0.1:0, not yet listening; the port it got goes to *port.
 */
int	loopback_bind(int flags, unsigned short *port);

/* Write "PORT\n" to path, atomically (path.tmp, then rename). */
void	write_portfile(const char *path, unsigned short port);

/* Raise RLIMIT_NOFILE's soft limit to its hard limit, best effort. */
void	raise_nofile(void);

#endif
