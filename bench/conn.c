/*
 * conn: connection-rate and scale helper for tcptap's benchmark.
 *
 *   conn rate PORT SECS CLIENTS [BYTES]
 *	Fork CLIENTS client processes; released together, each loops for
 *	SECS seconds: socket, connect to 127.0.0.1:PORT, write BYTES
 *	(default 100), read the BYTES echoed back and compare them, close.
 *	Prints "CONN_PER_S OK ERRORS AVG_US": completed connections per
 *	second (the sum over clients of each one's count / its elapsed time),
 *	connections completed, connections that failed (refused, reset,
 *	short or wrong echo, 10 s socket timeout), and the mean time of one
 *	connection in microseconds.  Exit 1 if any failed.
 *
 *   conn forkcost SECS
 *	For SECS seconds: fork(), _exit(0) in the child, waitpid() in the
 *	parent.  Prints "FORKS_PER_S US_EACH US_IN_FORK": this machine's fork
 *	ceiling, the mean time of one cycle, and of the fork(2) call alone.
 *
 *   conn hold PORT N BATCH DIR SECS [RELAY_PPID]
 *	Open N connections to 127.0.0.1:PORT with non-blocking connects and
 *	epoll, at most BATCH in progress at once, then hold them idle.
 *	Prints "connected N SECONDS" (the last connect(2) completed), and if
 *	RELAY_PPID is given, waits until that process has N children and
 *	prints "relays N SECONDS" (both from the first connect).  Then waits
 *	for the file DIR/go1, writes one 16-byte message (unique per
 *	connection) on every connection, reads the echoes, and prints
 *	"echoed OK BAD SECONDS".  Then waits for DIR/go2, closes everything
 *	and prints "closed".  Every phase is bounded by SECS (the echo phase
 *	by SECS/4 + 10), then it prints what it got and exits 1.  RLIMIT_NOFILE is raised to its hard limit.
 *
 *   conn pss PPID
 *	Sum Pss, Rss and Private (clean + dirty) from /proc/PID/smaps_rollup
 *	over the children of PPID; prints
 *	"CHILDREN PSS_KIB RSS_KIB PRIVATE_KIB PARENT_PSS_KIB".
 *
 *   conn children PPID
 *	Print how many children PPID has now.
 *
 * Loopback only; every wait is bounded.
 * Exit status: 0 ok, 1 failures or timeout, 2 usage, 3 system error.
 */
#define _GNU_SOURCE
#include <dirent.h>
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#define IO_TIMEOUT_S	10
#define MAXCLIENTS	256
#define MSGLEN		16
/*
 * hold: connections accepted by the kernel but not yet by a relay, at
 * most.  Beyond the listen backlog (somaxconn, 4096 here) the kernel
 * drops the handshake's last ACK and gives up after tcp_synack_retries
 * (about 63 s): a client that outruns the forks loses connections, and
 * the bench would measure that instead of the relays.
 */
#define HOLD_QUEUE	2000

void
usage(void)
{
	fprintf(stderr,
	    "usage: conn rate port secs clients [bytes]\n"
	    "       conn forkcost secs\n"
	    "       conn hold port n batch dir secs [relay_ppid]\n"
	    "       conn pss ppid\n"
	    "       conn children ppid\n");
	exit(2);
}

/* ------------------------------------------------------------------ rate */

struct tally {
	long	ok, err;
	double	busy, elapsed;
};

/* One short connection; 0 ok, -1 failed (errno-ish reason on stderr). */
static int
one_conn(const struct sockaddr_in *sa, const char *msg, char *back, size_t len,
    long *nerr)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S, .tv_usec = 0 };
	const char *why = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		why = "socket";
		goto fail;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == -1) {
		why = "connect";
		goto fail;
	}
	while (got < len) {
		n = write(fd, msg + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			why = "write";
			goto fail;
		}
		got += n;
	}
	got = 0;
	while (got < len) {
		n = read(fd, back + got, len - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			why = "read";
			goto fail;
		}
		got += n;
	}
	if (memcmp(msg, back, len) != 0) {
		errno = EILSEQ;
		why = "echo differs";
		goto fail;
	}
	close(fd);
	return 0;
fail:
	if (*nerr < 3)
		fprintf(stderr, "conn: rate: %s: %s\n", why, strerror(errno));
	(*nerr)++;
	if (fd != -1)
		close(fd);
	if (errno == EADDRNOTAVAIL || errno == EMFILE || errno == ENFILE)
		usleep(1000);
	return -1;
}

static void
rate_client(const struct sockaddr_in *sa, double secs, size_t len, int gofd,
    int outfd)
{
	struct tally t = { 0, 0, 0, 0 };
	char *msg, *back, c;
	double t0, t1, a;

	if (!(msg = malloc(len)) || !(back = malloc(len)))
		err(3, "malloc");
	for (size_t i = 0; i < len; i++)
		msg[i] = (char)('a' + i % 26);
	/* Barrier: the parent closes the write end to release everyone. */
	while (read(gofd, &c, 1) == -1 && errno == EINTR)
		;
	t0 = now();
	t1 = t0 + secs;
	while ((a = now()) < t1) {
		if (one_conn(sa, msg, back, len, &t.err) == 0) {
			t.ok++;
			t.busy += now() - a;
		}
	}
	t.elapsed = now() - t0;
	if (write(outfd, &t, sizeof t) != (ssize_t)sizeof t)
		_exit(3);
	_exit(0);
}

static int
cmd_rate(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct tally t, sum = { 0, 0, 0, 0 };
	pid_t pids[MAXCLIENTS];
	double secs, rate = 0;
	long nclients, len;
	int go[2], res[2], bad = 0;
	ssize_t n;

	if (argc != 4 && argc != 5)
		usage();
	sa = loopback((unsigned short)num_arg(argv[1], 1, 65535));
	secs = num_arg(argv[2], 1, 3600);
	nclients = num_arg(argv[3], 1, MAXCLIENTS);
	len = argc == 5 ? num_arg(argv[4], 1, 1 << 20) : 100;
	if (pipe2(go, O_CLOEXEC) == -1 || pipe2(res, O_CLOEXEC) == -1)
		err(3, "pipe");
	for (long i = 0; i < nclients; i++) {
		if ((pids[i] = fork()) == -1)
			err(3, "fork");
		if (pids[i] == 0) {
			close(go[1]);
			close(res[0]);
			/* A client that outlives its budget is a bug: bound it. */
			alarm((unsigned)secs + 3 * IO_TIMEOUT_S);
			rate_client(&sa, secs, (size_t)len, go[0], res[1]);
		}
	}
	close(go[0]);
	close(res[1]);
	close(go[1]);	/* go */
	for (long i = 0; i < nclients; i++) {
		n = read(res[0], &t, sizeof t);
		if (n == -1 && errno == EINTR) {
			i--;
			continue;
		}
		if (n != (ssize_t)sizeof t) {
			bad = 1;
			break;
		}
		sum.ok += t.ok;
		sum.err += t.err;
		sum.busy += t.busy;
		if (t.elapsed > 0)
			rate += t.ok / t.elapsed;
	}
	for (long i = 0; i < nclients; i++) {
		int st;

		while (waitpid(pids[i], &st, 0) == -1 && errno == EINTR)
			;
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			bad = 1;
	}
	if (bad) {
		fprintf(stderr, "conn: rate: a client died\n");
		return 1;
	}
	printf("%.0f %ld %ld %.1f\n", rate, sum.ok, sum.err,
	    sum.ok ? sum.busy / sum.ok * 1e6 : 0.0);
	return sum.err ? 1 : 0;
}

/* -------------------------------------------------------------- forkcost */

static int
cmd_forkcost(int argc, char **argv)
{
	double t0, dt, secs, in_fork = 0, a;
	long n = 0;

	if (argc != 2)
		usage();
	secs = num_arg(argv[1], 1, 600);
	t0 = now();
	do {
		pid_t p;
		int st;

		a = now();
		p = fork();
		if (p == -1)
			err(3, "fork");
		if (p == 0)
			_exit(0);
		in_fork += now() - a;
		while (waitpid(p, &st, 0) == -1)
			if (errno != EINTR)
				err(3, "waitpid");
		n++;
	} while ((dt = now() - t0) < secs);
	printf("%.0f %.1f %.1f\n", n / dt, dt / n * 1e6, in_fork / n * 1e6);
	return 0;
}

/* ---------------------------------------------------------------- /proc */

/* Call fn(pid, arg) for every process whose parent is ppid; return count. */
static long
for_children(pid_t ppid, void (*fn)(pid_t, void *), void *arg)
{
	struct dirent *d;
	char path[300], line[512], *p;
	long count = 0;
	DIR *dir;
	int fd;
	ssize_t n;

	if (!(dir = opendir("/proc")))
		err(3, "/proc");
	while ((d = readdir(dir))) {
		long pp;
		char st;

		if (d->d_name[0] < '1' || d->d_name[0] > '9')
			continue;
		snprintf(path, sizeof path, "/proc/%s/stat", d->d_name);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(fd, line, sizeof line - 1);
		close(fd);
		if (n <= 0)
			continue;
		line[n] = '\0';
		if (!(p = strrchr(line, ')')))
			continue;
		if (sscanf(p + 1, " %c %ld", &st, &pp) != 2 || pp != ppid ||
		    st == 'Z')
			continue;
		count++;
		if (fn)
			fn((pid_t)strtol(d->d_name, NULL, 10), arg);
	}
	closedir(dir);
	return count;
}

struct mem {
	long	pss, rss, priv;
};

static void
add_rollup(pid_t pid, void *arg)
{
	struct mem *m = arg;
	char path[64], line[256];
	long v;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
	if (!(f = fopen(path, "r")))
		return;
	while (fgets(line, sizeof line, f)) {
		if (sscanf(line, "Pss: %ld", &v) == 1)
			m->pss += v;
		else if (sscanf(line, "Rss: %ld", &v) == 1)
			m->rss += v;
		else if (sscanf(line, "Private_Clean: %ld", &v) == 1 ||
		    sscanf(line, "Private_Dirty: %ld", &v) == 1)
			m->priv += v;
	}
	fclose(f);
}

static int
cmd_pss(int argc, char **argv)
{
	struct mem kids = { 0, 0, 0 }, parent = { 0, 0, 0 };
	pid_t ppid;
	long n;

	if (argc != 2)
		usage();
	ppid = (pid_t)num_arg(argv[1], 1, 1 << 30);
	n = for_children(ppid, add_rollup, &kids);
	add_rollup(ppid, &parent);
	printf("%ld %ld %ld %ld %ld\n", n, kids.pss, kids.rss, kids.priv,
	    parent.pss);
	return 0;
}

static int
cmd_children(int argc, char **argv)
{
	if (argc != 2)
		usage();
	printf("%ld\n", for_children((pid_t)num_arg(argv[1], 1, 1 << 30),
	    NULL, NULL));
	return 0;
}

/* ------------------------------------------------------------------ hold */

static int
wait_for_file(const char *dir, const char *name, double deadline)
{
	char path[4096];
	struct stat st;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	while (stat(path, &st) == -1) {
		if (now() > deadline)
			return -1;
		usleep(20000);
	}
	return 0;
}

static int
cmd_hold(int argc, char **argv)
{
	struct epoll_event ev, evs[1024];
	struct sockaddr_in sa;
	long want, batch, secs, ppid = 0, started = 0, connected = 0;
	long inflight = 0, failed = 0, okc = 0, badc = 0, done = 0, kids = 0;
	const char *dir;
	double t0, t, deadline, counted = 0;
	int *fds, *got, ep, rc = 0;
	char (*in)[MSGLEN];

	if (argc != 6 && argc != 7)
		usage();
	sa = loopback((unsigned short)num_arg(argv[1], 1, 65535));
	want = num_arg(argv[2], 1, 1000000);
	batch = num_arg(argv[3], 1, 1000000);
	dir = argv[4];
	secs = num_arg(argv[5], 1, 3600);
	if (argc == 7)
		ppid = num_arg(argv[6], 1, 1 << 30);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	if (!(fds = calloc(want, sizeof *fds)) || !(got = calloc(want, sizeof *got)) ||
	    !(in = calloc(want, sizeof *in)))
		err(3, "calloc");
	for (long k = 0; k < want; k++) {
		fds[k] = -1;
		got[k] = -2;	/* -2 not connected, -1 failed, else bytes */
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		err(3, "epoll_create1");

	/* Phase 1: connect, at most batch in progress, HOLD_QUEUE unrelayed. */
	t0 = now();
	deadline = t0 + secs;
	while (connected + failed < want) {
		int n;

		if (ppid && started - kids >= HOLD_QUEUE &&
		    (t = now()) - counted >= 0.1) {
			kids = for_children((pid_t)ppid, NULL, NULL);
			counted = t;
		}
		while (started < want && inflight < batch &&
		    (!ppid || started - kids < HOLD_QUEUE)) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
			    SOCK_NONBLOCK, 0);

			if (fd == -1) {
				fprintf(stderr, "conn: hold: socket %ld: %s\n",
				    started, strerror(errno));
				failed += want - started;
				started = want;
				break;
			}
			fds[started] = fd;
			if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == -1 &&
			    errno != EINPROGRESS) {
				fprintf(stderr, "conn: hold: connect %ld: %s\n",
				    started, strerror(errno));
				close(fd);
				fds[started] = -1;
				failed++;
				started++;
				continue;
			}
			ev.events = EPOLLOUT;
			ev.data.u64 = (uint64_t)started;
			if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
				err(3, "epoll_ctl");
			started++;
			inflight++;
		}
		if (connected + failed >= want)
			break;
		if ((t = now()) > deadline) {
			fprintf(stderr, "conn: hold: connect phase timed out\n");
			rc = 1;
			break;
		}
		n = epoll_wait(ep, evs, 1024, 100);
		if (n == -1 && errno != EINTR)
			err(3, "epoll_wait");
		for (int i = 0; i < n; i++) {
			long k = (long)evs[i].data.u64;
			int soerr = 0;
			socklen_t el = sizeof soerr;

			(void)getsockopt(fds[k], SOL_SOCKET, SO_ERROR, &soerr, &el);
			inflight--;
			if (soerr) {
				if (failed < 3)
					fprintf(stderr, "conn: hold: connect %ld: %s\n",
					    k, strerror(soerr));
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], NULL);
				close(fds[k]);
				fds[k] = -1;
				failed++;
				continue;
			}
			ev.events = EPOLLIN;	/* an early EOF shows later */
			ev.data.u64 = (uint64_t)k;
			if (epoll_ctl(ep, EPOLL_CTL_MOD, fds[k], &ev) == -1)
				err(3, "epoll_ctl");
			got[k] = 0;
			connected++;
		}
	}
	printf("connected %ld %.3f\n", connected, now() - t0);
	if (failed)
		printf("connect_failed %ld\n", failed);
	fflush(stdout);

	if (ppid && rc == 0) {
		while ((kids = for_children((pid_t)ppid, NULL, NULL)) < connected &&
		    now() < deadline)
			usleep(50000);
		printf("relays %ld %.3f\n", kids, now() - t0);
		fflush(stdout);
	}

	/* Phase 2: one message each, read the echoes. */
	if (wait_for_file(dir, "go1", now() + secs) == -1) {
		fprintf(stderr, "conn: hold: no go1 within %ld s\n", secs);
		rc = 1;
		goto out;
	}
	t0 = now();
	deadline = t0 + secs / 4 + 10;	/* accepted ones echo at once */
	for (long k = 0; k < want; k++) {
		char msg[32];

		if (got[k] != 0)
			continue;
		snprintf(msg, sizeof msg, "conn %010ld\n", k);
		if (write(fds[k], msg, MSGLEN) != MSGLEN) {
			badc++;
			got[k] = -1;
		}
	}
	done = badc + (want - connected);
	while (done < want && now() < deadline) {
		int n = epoll_wait(ep, evs, 1024, 100);

		if (n == -1 && errno != EINTR)
			err(3, "epoll_wait");
		for (int i = 0; i < n; i++) {
			long k = (long)evs[i].data.u64;
			ssize_t r;

			if (got[k] < 0 || got[k] >= MSGLEN)
				continue;
			r = read(fds[k], in[k] + got[k], MSGLEN - got[k]);
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r <= 0) {
				got[k] = -1;
				badc++;
				done++;
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], NULL);
				continue;
			}
			got[k] += r;
			if (got[k] == MSGLEN) {
				char msg[32];

				snprintf(msg, sizeof msg, "conn %010ld\n", k);
				if (memcmp(msg, in[k], MSGLEN) == 0)
					okc++;
				else
					badc++;
				done++;
				(void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[k], NULL);
			}
		}
	}
	printf("echoed %ld %ld %.3f\n", okc, want - okc, now() - t0);
	fflush(stdout);
	if (okc != want)
		rc = 1;

	/* Phase 3: hold until go2, then close everything. */
	if (wait_for_file(dir, "go2", now() + secs) == -1) {
		fprintf(stderr, "conn: hold: no go2 within %ld s\n", secs);
		rc = 1;
	}
out:
	for (long k = 0; k < want; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	printf("closed\n");
	fflush(stdout);
	return rc;
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "rate") == 0)
		return cmd_rate(argc - 1, argv + 1);
	if (strcmp(argv[1], "forkcost") == 0)
		return cmd_forkcost(argc - 1, argv + 1);
	if (strcmp(argv[1], "hold") == 0)
		return cmd_hold(argc - 1, argv + 1);
	if (strcmp(argv[1], "pss") == 0)
		return cmd_pss(argc - 1, argv + 1);
	if (strcmp(argv[1], "children") == 0)
		return cmd_children(argc - 1, argv + 1);
	usage();
	return 2;
}
