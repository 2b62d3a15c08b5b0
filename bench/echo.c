/*
 * echo: a small, fork-free epoll echo server for tcptap's benchmark.
 *
 *   echo -P PORTFILE [-b BACKLOG]
 *	Listen on 127.0.0.1:0 (backlog BACKLOG, default 4096; the kernel
 *	caps it at net.core.somaxconn), write the bound port to PORTFILE
 *	(atomically, via rename) once listening, and echo every byte back
 *	on every connection, one thread, level-triggered epoll, non-blocking
 *	sockets.  A connection is closed when the peer's EOF has been read
 *	and everything read has been written back, or on an error.
 *	RLIMIT_NOFILE is raised to its hard limit at start.
 *	Exits after 900 s without any event (a safety net: the benchmark
 *	stops it by PID), or on SIGTERM/SIGINT.
 *
 * Loopback only.  Exit status: 0 ok, 1 idle timeout, 2 usage, 3 system error.
 */
#define _GNU_SOURCE
#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define BUFSZ		65536
#define IDLE_MS		(900 * 1000)
#define MAXEV		256

/* Bytes read but not yet written back, per fd (NULL when none). */
struct pend {
	char	*buf;
	size_t	 len, off;
};

static struct pend *pend;
static size_t npend;
static char buf[BUFSZ];
static volatile sig_atomic_t stop;

void
usage(void)
{
	fprintf(stderr, "usage: echo -P portfile [-b backlog]\n");
	exit(2);
}

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void
drop(int ep, int fd)
{
	(void)epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	if ((size_t)fd < npend) {
		free(pend[fd].buf);
		memset(&pend[fd], 0, sizeof pend[fd]);
	}
}

/* Write what is pending on fd; 1 all written, 0 would block, -1 error. */
static int
flush_pend(int fd)
{
	struct pend *p = &pend[fd];
	ssize_t n;

	while (p->off < p->len) {
		n = write(fd, p->buf + p->off, p->len - p->off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0)
			return -1;
		p->off += n;
	}
	free(p->buf);
	p->buf = NULL;
	p->len = p->off = 0;
	return 1;
}

static void
on_readable(int ep, int fd)
{
	struct pend *p = &pend[fd];
	struct epoll_event ev;
	ssize_t n, w, off;

	for (;;) {
		n = read(fd, buf, sizeof buf);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return;
		if (n == -1) {
			drop(ep, fd);
			return;
		}
		if (n == 0) {
			drop(ep, fd);
			return;
		}
		off = 0;
		while (off < n) {
			w = write(fd, buf + off, n - off);
			if (w == -1 && errno == EINTR)
				continue;
			if (w == -1 && errno == EAGAIN)
				break;
			if (w <= 0) {
				drop(ep, fd);
				return;
			}
			off += w;
		}
		if (off < n) {
			/* Peer is not reading: keep the rest, stop reading. */
			if (!(p->buf = malloc(n - off)))
				err(3, "malloc");
			memcpy(p->buf, buf + off, n - off);
			p->len = n - off;
			p->off = 0;
			ev.events = EPOLLOUT;
			ev.data.fd = fd;
			if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == -1)
				err(3, "epoll_ctl");
			return;
		}
	}
}

int
main(int argc, char **argv)
{
	struct epoll_event ev, evs[MAXEV];
	struct sigaction sact;
	struct rlimit rl;
	const char *portfile = NULL;
	long backlog = 4096;
	unsigned short port;
	int c, lfd, ep, one = 1;

	while ((c = getopt(argc, argv, "P:b:")) != -1) {
		switch (c) {
		case 'P': portfile = optarg; break;
		case 'b': backlog = num_arg(optarg, 1, 1000000); break;
		default: usage();
		}
	}
	if (!portfile || optind != argc)
		usage();

	raise_nofile();
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		err(3, "getrlimit");
	npend = rl.rlim_cur > 4 * 1048576 ? 4 * 1048576 : rl.rlim_cur;
	if (!(pend = calloc(npend, sizeof *pend)))
		err(3, "calloc");

	memset(&sact, 0, sizeof sact);
	sact.sa_handler = on_signal;
	sigaction(SIGTERM, &sact, NULL);
	sigaction(SIGINT, &sact, NULL);
	signal(SIGPIPE, SIG_IGN);

	lfd = loopback_bind(SOCK_NONBLOCK, &port);
	if (listen(lfd, (int)backlog) == -1)
		err(3, "listen");
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(3, "epoll_create1");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
		err(3, "epoll_ctl");

	write_portfile(portfile, port);

	while (!stop) {
		int n = epoll_wait(ep, evs, MAXEV, IDLE_MS);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			err(3, "epoll_wait");
		if (n == 0) {
			fprintf(stderr, "echo: idle for 900 s, exiting\n");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				/* Accept a bounded batch per wakeup. */
				for (int k = 0; k < 256; k++) {
					int cfd = accept4(lfd, NULL, NULL,
					    SOCK_CLOEXEC | SOCK_NONBLOCK);

					if (cfd == -1)
						break;
					if ((size_t)cfd >= npend) {
						close(cfd);
						continue;
					}
					(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY,
					    &one, sizeof one);
					ev.events = EPOLLIN;
					ev.data.fd = cfd;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev) == -1)
						close(cfd);
				}
				continue;
			}
			if (pend[fd].buf) {
				int r = flush_pend(fd);

				if (r == -1) {
					drop(ep, fd);
				} else if (r == 1) {
					ev.events = EPOLLIN;
					ev.data.fd = fd;
					if (epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev) == -1)
						drop(ep, fd);
				}
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				on_readable(ep, fd);
		}
	}
	return 0;
}
