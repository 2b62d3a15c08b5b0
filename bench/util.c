/*
 * util.c: the helpers bench/bulk.c, bench/conn.c and bench/echo.c share;
 * see bench.h.
 */
#define _GNU_SOURCE
#include <sys/resource.h>
#include <sys/socket.h>

#include <arpa/inet.h>
#include <bsd/stdlib.h>
#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

long long
num_arg(const char *arg, long long min, long long max)
{
	const char *errstr;
	long long v;

	v = strtonum(arg, min, max, &errstr);
	if (errstr != NULL) {
		warnx("%s: %s", arg, errstr);
		usage();
	}
	return v;
}

double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct sockaddr_in
loopback(unsigned short port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(port);
	return sa;
}

int
loopback_bind(int flags, unsigned short *port)
{
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0)) == -1)
		err(3, "socket");
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		err(3, "bind");
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == -1)
		err(3, "getsockname");
	*port = ntohs(sa.sin_port);
	return fd;
}

void
write_portfile(const char *path, unsigned short port)
{
	char tmp[4096];
	FILE *f;

	if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
		errno = ENAMETOOLONG;
		err(3, "%s", path);
	}
	if (!(f = fopen(tmp, "w")) || fprintf(f, "%u\n", port) < 0 ||
	    fclose(f) == EOF || rename(tmp, path) == -1)
		err(3, "%s", path);
}

void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}
