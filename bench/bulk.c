/*
 * bulk: loopback bulk-throughput helper for tcptap's benchmark.
 *
 *   bulk sink [-r] -P PORTFILE [-n MAXCONN]
 *	Listen on 127.0.0.1:0, write the bound port to PORTFILE (atomically,
 *	via rename) once listening, then accept connections one at a time.
 *	Each connection is drained to /dev/null (splice socket -> pipe ->
 *	/dev/null; read(2) into a 256 KiB buffer if splice is refused) until
 *	EOF (-r: always read(2)); then one line "BYTES SECONDS" is printed and flushed, and only
 *	then the connection is closed (so a sender that sees EOF knows the
 *	line is already written).  Exits after MAXCONN connections (default
 *	unlimited), or after 600 s without a connection.
 *
 *   bulk send PORT BYTES
 *	Connect to 127.0.0.1:PORT, send BYTES from a 256 KiB buffer as fast
 *	as possible, shut down the write side, wait for EOF from the peer, and
 *	print "MIBPS BYTES SECONDS", timed from just before connect(2) to EOF,
 *	so the figure includes delivery to the sink through any relay.
 *
 *   bulk freeport
 *	Print a port that was free on 127.0.0.1 a moment ago (for servers
 *	that cannot report the port they bound, such as socat and haproxy).
 *
 *   bulk listening PORT SECS
 *	Wait (polling /proc/net/tcp, no connection made) until something
 *	listens on 127.0.0.1:PORT; exit 0 when it does, 1 after SECS.
 *
 * Loopback only; every wait is bounded (socket timeouts of 120 s).
 * Exit status: 0 ok, 1 short transfer or timeout, 2 usage, 3 system error.
 */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"

#define BUFSZ	(256 * 1024)
#define IO_TIMEOUT_S	120

static char buf[BUFSZ];

void
usage(void)
{
	fprintf(stderr,
	    "usage: bulk sink [-r] -P portfile [-n maxconn]\n"
	    "       bulk send port bytes\n"
	    "       bulk freeport\n"
	    "       bulk listening port secs\n");
	exit(2);
}

static void
set_timeouts(int fd)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S, .tv_usec = 0 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == -1)
		err(3, "setsockopt");
}

/* Drain fd to EOF; return the byte count, or -1 on error or timeout. */
static long long
drain(int fd, int devnull, int pfd[2], int *use_splice)
{
	long long total = 0;
	ssize_t n, m;

	for (;;) {
		if (*use_splice) {
			n = splice(fd, NULL, pfd[1], NULL, BUFSZ, SPLICE_F_MOVE);
			if (n == -1 && errno == EINTR)
				continue;
			if (n == -1 && (errno == EINVAL || errno == ENOSYS) &&
			    total == 0) {
				*use_splice = 0;
				continue;
			}
			if (n <= 0)
				return n == 0 ? total : -1;
			total += n;
			while (n > 0) {
				m = splice(pfd[0], NULL, devnull, NULL, n,
				    SPLICE_F_MOVE);
				if (m == -1 && errno == EINTR)
					continue;
				if (m <= 0)
					return -1;
				n -= m;
			}
		} else {
			n = read(fd, buf, sizeof buf);
			if (n == -1 && errno == EINTR)
				continue;
			if (n <= 0)
				return n == 0 ? total : -1;
			total += n;
		}
	}
}

static int
cmd_sink(int argc, char **argv)
{
	const char *portfile = NULL;
	long maxconn = -1, nconn = 0;
	unsigned short port;
	int c, lfd, devnull, pfd[2], use_splice = 1;

	while ((c = getopt(argc, argv, "P:n:r")) != -1) {
		switch (c) {
		case 'P': portfile = optarg; break;
		case 'n': maxconn = num_arg(optarg, 0, 1000000); break;
		case 'r': use_splice = 0; break;
		default: usage();
		}
	}
	if (!portfile || optind != argc)
		usage();

	if ((devnull = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1)
		err(3, "/dev/null");
	if (pipe2(pfd, O_CLOEXEC) == -1)
		err(3, "pipe");
	(void)fcntl(pfd[1], F_SETPIPE_SZ, BUFSZ);	/* best effort */

	lfd = loopback_bind(0, &port);
	if (listen(lfd, 16) == -1)
		err(3, "listen");
	write_portfile(portfile, port);

	while (maxconn < 0 || nconn < maxconn) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		long long got;
		double t0;
		int cfd;

		c = poll(&p, 1, 600 * 1000);
		if (c == -1 && errno == EINTR)
			continue;
		if (c == -1)
			err(3, "poll");
		if (c == 0) {
			fprintf(stderr, "bulk: sink: idle for 600 s, exiting\n");
			return 1;
		}
		if ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			err(3, "accept");
		}
		nconn++;
		set_timeouts(cfd);
		t0 = now();
		got = drain(cfd, devnull, pfd, &use_splice);
		if (got < 0) {
			fprintf(stderr, "bulk: sink: connection %ld: %s\n",
			    nconn, errno ? strerror(errno) : "error");
			/* A half-filled pipe would poison the next one. */
			close(pfd[0]);
			close(pfd[1]);
			if (pipe2(pfd, O_CLOEXEC) == -1)
				err(3, "pipe");
			(void)fcntl(pfd[1], F_SETPIPE_SZ, BUFSZ);
			printf("-1 %.6f\n", now() - t0);
		} else
			printf("%lld %.6f\n", got, now() - t0);
		fflush(stdout);
		close(cfd);
	}
	return 0;
}

static int
cmd_send(int argc, char **argv)
{
	struct sockaddr_in sa;
	long long want, sent = 0, back = 0;
	double t0, dt;
	ssize_t n;
	int fd, one = 1;

	if (argc != 3)
		usage();
	sa = loopback((unsigned short)num_arg(argv[1], 0, 65535));
	want = num_arg(argv[2], 1, LLONG_MAX);
	for (size_t i = 0; i < sizeof buf; i++)
		buf[i] = (char)(i * 131 + (i >> 9));

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		err(3, "socket");
	set_timeouts(fd);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	t0 = now();
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1)
		err(3, "connect");
	while (sent < want) {
		size_t chunk = want - sent < BUFSZ ? (size_t)(want - sent) : BUFSZ;

		n = write(fd, buf, chunk);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			err(3, "write");
		sent += n;
	}
	if (shutdown(fd, SHUT_WR) == -1)
		err(3, "shutdown");
	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(3, "read (waiting for EOF)");
		if (n == 0)
			break;
		back += n;
	}
	dt = now() - t0;
	close(fd);
	if (back)
		fprintf(stderr, "bulk: send: peer sent %lld unexpected bytes\n",
		    back);
	printf("%.1f %lld %.6f\n", sent / 1048576.0 / dt, sent, dt);
	return back ? 1 : 0;
}

static int
cmd_freeport(int argc)
{
	unsigned short port;
	int fd;

	if (argc != 1)
		usage();
	fd = loopback_bind(0, &port);
	close(fd);
	printf("%u\n", port);
	return 0;
}

/* Is there a LISTEN socket on 127.0.0.1:port in /proc/net/tcp? */
static int
is_listening(unsigned port)
{
	char line[512], want[32];
	FILE *f;
	int found = 0;

	snprintf(want, sizeof want, "0100007F:%04X", port);
	if (!(f = fopen("/proc/net/tcp", "r")))
		err(3, "/proc/net/tcp");
	while (!found && fgets(line, sizeof line, f)) {
		char local[64], remote[64], st[8];

		if (sscanf(line, " %*[0-9]: %63s %63s %7s", local, remote,
		    st) == 3 && strcmp(local, want) == 0 &&
		    strcmp(st, "0A") == 0)
			found = 1;
	}
	fclose(f);
	return found;
}

static int
cmd_listening(int argc, char **argv)
{
	unsigned port;
	double deadline;

	if (argc != 3)
		usage();
	port = (unsigned)num_arg(argv[1], 0, 65535);
	deadline = now() + num_arg(argv[2], 0, 3600);
	while (!is_listening(port)) {
		if (now() > deadline)
			return 1;
		usleep(20000);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "sink") == 0)
		return cmd_sink(argc - 1, argv + 1);
	if (strcmp(argv[1], "send") == 0)
		return cmd_send(argc - 1, argv + 1);
	if (strcmp(argv[1], "freeport") == 0)
		return cmd_freeport(argc - 1);
	if (strcmp(argv[1], "listening") == 0)
		return cmd_listening(argc - 1, argv + 1);
	usage();
	return 2;
}
