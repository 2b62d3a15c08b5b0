/*
 * tt-peer: the test suite's TCP / unix-socket peer.
 *
 *   tt-peer [-o FILE] connect ADDR [STEP ...]
 *   tt-peer [-o FILE] [-P FILE] [-b BACKLOG] [-1 | -n] listen ADDR \
 *       [STEP ...]
 *   tt-peer freeport [-6]
 *
 * ADDR is HOST:PORT, [V6]:PORT or unix:PATH.  `listen` writes the bound
 * port (0 for unix sockets) and a newline to -P FILE once listening, then
 * serves each connection in a forked child (or, with -1, one connection
 * in-process; with -n it never accepts, so once the backlog -b is full the
 * kernel drops new SYNs: a target that times out).  Each connection runs the STEPs in order:
 *
 *   send=TEXT   send TEXT (reading whatever arrives meanwhile)
 *   file=PATH   send the bytes of PATH (reading whatever arrives meanwhile)
 *   shut        shutdown(SHUT_WR)
 *   recv=N      read until N bytes in total have arrived
 *   eof         read until EOF or reset (either is fine)
 *   echo        send back what arrives until EOF, then shut
 *   reset       close with SO_LINGER 0 (the peer sees RST)
 *   wait=PATH   wait until PATH exists
 *   mark=PATH   create PATH
 *
 * All received bytes go to -o FILE (else they are only counted).  At the
 * end the peer closes and prints one line on stdout:
 *   local=ADDR peer=ADDR recv=N end=eof|reset|open
 * Exit 0; 1 when a step could not complete (EOF or reset came first);
 * 2 usage; 3 system error.  `freeport` prints a loopback port that was
 * free a moment ago.
 */
#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int	 outfd = -1;		/* -o */
static long long nrecv;			/* bytes received */
static int	 peer_eof, peer_reset;	/* how the read side ended */

static void __attribute__((noreturn))
die(int code, const char *what)
{
	fprintf(stderr, "tt-peer: %s: %s\n", what, strerror(errno));
	exit(code);
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: tt-peer [-o FILE] connect ADDR [STEP ...]\n"
	    "       tt-peer [-o FILE] [-P FILE] [-b BACKLOG] [-1 | -n] listen ADDR"
	    " [STEP ...]\n"
	    "       tt-peer freeport [-6]\n");
	exit(2);
}

/* Parse ADDR into ss; returns its length. */
static socklen_t
parse_addr(const char *addr, struct sockaddr_storage *ss)
{
	struct addrinfo hints, *res;
	char host[256], *port;
	socklen_t len;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(addr, "unix:", 5) == 0) {
		struct sockaddr_un *sun = (struct sockaddr_un *)ss;

		if (strlen(addr + 5) >= sizeof(sun->sun_path))
			usage();
		sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, addr + 5);
		return sizeof(*sun);
	}
	if (strlen(addr) >= sizeof(host))
		usage();
	strcpy(host, addr);
	if ((port = strrchr(host, ':')) == NULL)
		usage();
	*port++ = '\0';
	if (host[0] == '[') {
		size_t n = strlen(host);

		if (n < 2 || host[n - 1] != ']')
			usage();
		host[n - 1] = '\0';
		memmove(host, host + 1, n - 1);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		fprintf(stderr, "tt-peer: cannot resolve %s\n", addr);
		exit(3);
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	len = res->ai_addrlen;
	freeaddrinfo(res);
	return len;
}

static void
format_addr(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%u", ip, ntohs(sin->sin_port));
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%u", ip, ntohs(s6->sin6_port));
	} else
		snprintf(buf, size, "unix");
}

static void
write_out(const char *p, ssize_t n)
{
	while (outfd != -1 && n > 0) {
		ssize_t w = write(outfd, p, n);

		if (w < 0)
			die(3, "write output");
		p += w;
		n -= w;
	}
}

/* Read once from s; returns bytes read, 0 at EOF/reset, -1 if none yet. */
static ssize_t
read_some(int s, char *buf, size_t size)
{
	ssize_t n = read(s, buf, size);

	if (n > 0) {
		nrecv += n;
		write_out(buf, n);
		return n;
	}
	if (n == 0) {
		peer_eof = 1;
		return 0;
	}
	if (errno == EAGAIN || errno == EINTR)
		return -1;
	if (errno == ECONNRESET || errno == EPIPE) {
		peer_reset = 1;
		return 0;
	}
	die(3, "read");
}

static int
read_done(void)
{
	return peer_eof || peer_reset;
}

/* Send len bytes of p, reading meanwhile if rd.  0 ok, -1 peer gone. */
static int
send_buf(int s, const char *p, size_t len, int rd)
{
	char buf[65536];

	while (len > 0) {
		struct pollfd pfd = { s, POLLOUT, 0 };

		if (rd && !read_done())
			pfd.events |= POLLIN;

		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(3, "poll");
		}
		if (pfd.events & POLLIN &&
		    pfd.revents & (POLLIN | POLLHUP | POLLERR))
			read_some(s, buf, sizeof(buf));
		if (pfd.revents & (POLLOUT | POLLERR)) {
			ssize_t w = write(s, p, len);

			if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) {
				peer_reset = 1;
				return -1;
			}
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				die(3, "write");
			if (w > 0) {
				p += w;
				len -= w;
			}
		}
	}
	return 0;
}

static int
send_file(int s, const char *path)
{
	char buf[65536];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY)) < 0)
		die(3, path);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (send_buf(s, buf, n, 1) < 0) {
			close(fd);
			return -1;
		}
	if (n < 0)
		die(3, path);
	close(fd);
	return 0;
}

/* Read until nrecv >= want (want < 0: until EOF).  0 ok, -1 ended early. */
static int
recv_until(int s, long long want)
{
	char buf[65536];

	while (want < 0 || nrecv < want) {
		struct pollfd pfd = { s, POLLIN, 0 };

		if (read_done())
			return want < 0 ? 0 : -1;
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			die(3, "poll");
		read_some(s, buf, sizeof(buf));
	}
	return 0;
}

static int
echo(int s)
{
	char buf[65536];
	ssize_t n;

	while (!read_done()) {
		struct pollfd pfd = { s, POLLIN, 0 };

		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			die(3, "poll");
		if ((n = read_some(s, buf, sizeof(buf))) > 0 &&
		    send_buf(s, buf, n, 0) < 0)
			return -1;
	}
	if (peer_reset)
		return -1;
	shutdown(s, SHUT_WR);
	return 0;
}

static void
wait_path(const char *path)
{
	struct stat st;

	/* Bounded by the caller: timeout(1), or teardown's kill. */
	while (stat(path, &st) < 0)
		usleep(10000);
}

static char	 local_addr[128] = "?", peer_addr[128] = "?";

/* Note both addresses now: getpeername fails once the peer is gone. */
static void
note_addrs(int s)
{
	struct sockaddr_storage ss;
	socklen_t len;

	len = sizeof(ss);
	if (getsockname(s, (struct sockaddr *)&ss, &len) == 0)
		format_addr(&ss, local_addr, sizeof(local_addr));
	len = sizeof(ss);
	if (getpeername(s, (struct sockaddr *)&ss, &len) == 0)
		format_addr(&ss, peer_addr, sizeof(peer_addr));
}

/* Run the steps on connection s, close it, report; returns exit status. */
static int
session(int s, char **steps, int nsteps)
{
	int i, rc = 0;

	note_addrs(s);
	if (fcntl(s, F_SETFL, O_NONBLOCK) < 0)
		die(3, "fcntl");
	for (i = 0; i < nsteps && rc == 0; i++) {
		const char *st = steps[i];

		if (strncmp(st, "send=", 5) == 0)
			rc = send_buf(s, st + 5, strlen(st + 5), 1);
		else if (strncmp(st, "file=", 5) == 0)
			rc = send_file(s, st + 5);
		else if (strcmp(st, "shut") == 0)
			shutdown(s, SHUT_WR);
		else if (strncmp(st, "recv=", 5) == 0)
			rc = recv_until(s, atoll(st + 5));
		else if (strcmp(st, "eof") == 0)
			rc = recv_until(s, -1);
		else if (strcmp(st, "echo") == 0)
			rc = echo(s);
		else if (strcmp(st, "reset") == 0) {
			struct linger l = { 1, 0 };

			setsockopt(s, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
			break;
		} else if (strncmp(st, "wait=", 5) == 0)
			wait_path(st + 5);
		else if (strncmp(st, "mark=", 5) == 0) {
			int fd = open(st + 5, O_WRONLY | O_CREAT, 0644);

			if (fd < 0)
				die(3, st + 5);
			close(fd);
		} else {
			fprintf(stderr, "tt-peer: bad step %s\n", st);
			exit(2);
		}
	}
	if (rc != 0)
		fprintf(stderr, "tt-peer: step %s: peer %s first\n",
		    steps[i - 1], peer_reset ? "reset" : "closed");
	printf("local=%s peer=%s recv=%lld end=%s\n", local_addr, peer_addr,
	    nrecv, peer_reset ? "reset" : peer_eof ? "eof" : "open");
	fflush(stdout);
	close(s);
	return rc == 0 ? 0 : 1;
}

static int
freeport(int v6)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[128];
	int s;

	len = parse_addr(v6 ? "[::1]:0" : "127.0.0.1:0", &ss);
	if ((s = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		die(3, "socket");
	if (bind(s, (struct sockaddr *)&ss, len) < 0)
		die(3, "bind");
	len = sizeof(ss);
	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		die(3, "getsockname");
	format_addr(&ss, buf, sizeof(buf));
	printf("%s\n", strrchr(buf, ':') + 1);
	close(s);
	return 0;
}

static void
write_portfile(const char *path, int s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char tmp[4096];
	unsigned port = 0;
	FILE *f;

	if (getsockname(s, (struct sockaddr *)&ss, &len) < 0)
		die(3, "getsockname");
	if (ss.ss_family == AF_INET)
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		die(3, tmp);
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) < 0)
		die(3, path);
}

int
main(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	const char *portfile = NULL, *outpath = NULL;
	int c, once = 0, never = 0, backlog = 128, s, one = 1;

	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt(argc, argv, "+o:P:b:1n")) != -1)
		switch (c) {
		case 'o': outpath = optarg; break;
		case 'P': portfile = optarg; break;
		case 'b': backlog = atoi(optarg); break;
		case '1': once = 1; break;
		case 'n': never = 1; break;
		default: usage();
		}
	argc -= optind;
	argv += optind;
	if (argc >= 1 && strcmp(argv[0], "freeport") == 0)
		return freeport(argc > 1 && strcmp(argv[1], "-6") == 0);
	if (argc < 2)
		usage();
	if (outpath != NULL &&
	    (outfd = open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die(3, outpath);
	len = parse_addr(argv[1], &ss);
	if ((s = socket(ss.ss_family, SOCK_STREAM, 0)) < 0)
		die(3, "socket");

	if (strcmp(argv[0], "connect") == 0) {
		if (connect(s, (struct sockaddr *)&ss, len) < 0)
			die(3, argv[1]);
		return session(s, argv + 2, argc - 2);
	}
	if (strcmp(argv[0], "listen") != 0)
		usage();
	if (ss.ss_family == AF_UNIX)
		unlink(((struct sockaddr_un *)&ss)->sun_path);
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (struct sockaddr *)&ss, len) < 0)
		die(3, argv[1]);
	if (listen(s, backlog) < 0)
		die(3, "listen");
	if (portfile != NULL)
		write_portfile(portfile, s);
	while (never)
		pause();
	if (!once)
		signal(SIGCHLD, SIG_IGN);	/* children reaped by the kernel */
	for (;;) {
		int cs = accept(s, NULL, NULL);

		if (cs < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die(3, "accept");
		}
		if (once) {
			close(s);
			return session(cs, argv + 2, argc - 2);
		}
		switch (fork()) {
		case -1:
			die(3, "fork");
		case 0:
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			close(s);
			exit(session(cs, argv + 2, argc - 2));
		default:
			close(cs);
		}
	}
}
