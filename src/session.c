/*
 * One connection's life, the same whether the listener forked us,
 * inetd, systemd or tcpserver started us: name the session, reach the
 * target, relay, log the end.
 */

#include <sys/signalfd.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

static void
session_begin(struct session *s, int cfd)
{
	memset(s, 0, sizeof(*s));
	sid_make(s->sid, sizeof(s->sid));
	s->open_us = now_us();
	s->open_mono = mono_us();
	addr_peer(cfd, s->client, sizeof(s->client));
	addr_local(cfd, s->local, sizeof(s->local));
	if (ucspi_setenv(cfd, s->sid) == -1)
		log_event(LOG_WARNING, "warn sid=%s setenv: %s", s->sid,
		    strerror(errno));
}

/*
 * SIGTERM (and SIGINT under inetd) end the relay as "shutdown";
 * SIGUSR1 and SIGUSR2 switch its taps off and on.
 */
static int
session_sigfd(void)
{
	sigset_t mask;
	int fd;

	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) == -1) {
		log_event(LOG_ERR, "error signalfd: %s", strerror(errno));
		return -1;
	}
	return fd;
}

/*
 * The open record: addresses as key=value lines (DESIGN.md), then
 * what only some sessions have: the program, and with inline filters
 * which bytes the taps see.
 */
static void
session_record_open(const struct serve_ctx *c, struct taps *ts,
    const struct session *s, const char *prog)
{
	char p[4 * ADDR_STRLEN];
	const char *point = c->ninl[0] + c->ninl[1] == 0 ? NULL :
	    c->ro.tap_delivered ? "delivered" : "sent";
	int n;

	n = snprintf(p, sizeof(p), "client=%s\n%s%s%slisten=%s\n%s%s%s"
	    "%s%s%s", s->client, *s->server ? "server=" : "", s->server,
	    *s->server ? "\n" : "", s->local, prog ? "prog=" : "",
	    prog ? prog : "", prog ? "\n" : "", point ? "tap_point=" : "",
	    point ? point : "", point ? "\n" : "");
	if (n > 0 && (size_t)n < sizeof(p))
		taps_record(ts, "open", "-", p, (size_t)n);
}

static int
session_taps(const struct serve_ctx *c, const struct session *s,
    struct taps *ts)
{
	memset(ts, 0, sizeof(*ts));
	ts->timeout_ms = c->tap_timeout_ms;
	ts->drop = c->tap_drop;
	ts->off = c->capture_off;
	ts->pipe_size = c->ro.pipe_size;
	if (taps_start(ts, s, c->taps, c->ntaps,
	    c->inetd ? STDERR_FILENO : STDOUT_FILENO) == -1 ||
	    (c->shared_fd != -1 && taps_add_fd(ts, fcntl(c->shared_fd,
	    F_DUPFD_CLOEXEC, 0), "--shared-tap") == -1)) {
		log_event(LOG_ERR, "error sid=%s taps: %s", s->sid,
		    strerror(errno));
		return -1;
	}
	return 0;
}

/* The client gets a reset: we cannot serve it. */
static void
client_abort(int cin, int cout)
{
	conn_abort(cin);
	if (cout != cin)
		conn_abort(cout);
}

/* A failed connection still reaches the taps: open, then close. */
static void
session_fail(const struct serve_ctx *c, struct session *s, struct taps *ts)
{
	static const char p[] = "reason=error\nby=relay\nc2s_bytes=0\n"
	    "s2c_bytes=0\nduration_us=0\n";

	session_record_open(c, ts, s, NULL);
	taps_record(ts, "close", "-", p, sizeof(p) - 1);
	taps_finish(ts);
}

/*
 * --proxy-protocol: tell the target who the client is before any byte.
 * The socket is fresh, so its send buffer takes the whole header.
 */
static int
session_proxy(const struct serve_ctx *c, const struct session *s, int cfd,
    int sfd)
{
	struct sockaddr_storage src, dst;
	socklen_t sl = sizeof(src), dl = sizeof(dst);
	unsigned char hdr[PROXY_HDR_MAX];
	ssize_t n, w;

	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	if (getpeername(cfd, (struct sockaddr *)&src, &sl) == -1 ||
	    getsockname(cfd, (struct sockaddr *)&dst, &dl) == -1)
		src.ss_family = dst.ss_family = AF_UNSPEC;
	n = proxy_header(c->proxy, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst, hdr, sizeof(hdr));
	if (n == -1 || (w = write(sfd, hdr, (size_t)n)) != n) {
		log_event(LOG_WARNING, "fail sid=%s client=%s target=%s "
		    "error=\"PROXY header: %s\"", s->sid, s->client,
		    c->target_spec, n == -1 ? "too long" : strerror(errno));
		return -1;
	}
	return 0;
}

/* Start the inline filters, relay, then reap filters and taps. */
static int
session_run(const struct serve_ctx *c, struct session *s,
    struct relay_ends *e, struct taps *ts, int sigfd)
{
	struct inline_chain x[2];
	int d, rc = 0;

	for (d = 0; d < 2; d++) {
		e->x[d] = NULL;
		if (c->ninl[d] == 0)
			continue;
		if (inline_start(&x[d], c->inl[d], c->ninl[d]) == -1) {
			log_event(LOG_ERR, "error sid=%s inline filter: %s",
			    s->sid, strerror(errno));
			rc = -1;
		}
		e->x[d] = &x[d];
	}
	if (rc == 0)
		rc = relay_run(s, e, &c->ro, ts, sigfd);
	for (d = 0; d < 2; d++)
		if (e->x[d] != NULL)
			inline_finish(e->x[d]);
	taps_finish(ts);
	return rc == 0 ? 0 : EXIT_SYS;
}

/* Relay the client on cin/cout to the target. */
int
session_relay(const struct serve_ctx *c, int cin, int cout)
{
	struct session s;
	struct taps ts;
	struct relay_ends e;
	char why[ADDR_STRLEN + 128];
	int sfd, sigfd, rc;

	session_begin(&s, cin);
	/* Every way out closes what it opened: a spare relay lives on. */
	if ((sigfd = session_sigfd()) == -1) {
		client_abort(cin, cout);
		return EXIT_SYS;
	}
	if (session_taps(c, &s, &ts) == -1) {
		client_abort(cin, cout);
		taps_finish(&ts);
		(void)close(sigfd);
		return EXIT_SYS;
	}
	sfd = conn_to_target(c->target, c->ntarget, c->connect_ms, s.server,
	    sizeof(s.server), why, sizeof(why));
	if (sfd == -1) {
		log_event(LOG_WARNING, "fail sid=%s client=%s target=%s "
		    "error=\"%s\"", s.sid, s.client, c->target_spec, why);
		goto fail;
	}
	conn_tune(cin);
	conn_tune(sfd);
	if (c->proxy && session_proxy(c, &s, cin, sfd) == -1) {
		conn_abort(sfd);
		goto fail;
	}
	log_event(LOG_INFO, "open sid=%s client=%s server=%s", s.sid,
	    s.client, s.server);
	setproctitle("%s -> %s", s.client, s.server);
	session_record_open(c, &ts, &s, NULL);
	e.cin = cin;
	e.cout = cout;
	e.sin = e.sout = sfd;
	rc = session_run(c, &s, &e, &ts, sigfd);
	close(sigfd);
	return rc;
fail:
	client_abort(cin, cout);
	session_fail(c, &s, &ts);
	(void)close(sigfd);
	return EXIT_SYS;
}

/*
 * Exec mode with taps: the relay sits between the client and PROG's
 * stdin and stdout pipes (as recordio does), so taps see it all.
 */
static int
session_exec_relayed(const struct serve_ctx *c, struct session *s, int fd)
{
	struct relay_ends e;
	struct taps ts;
	int in[2], out[2], sigfd, rc;
	pid_t pid;

	in[0] = in[1] = out[0] = out[1] = -1;
	if ((sigfd = session_sigfd()) == -1) {
		conn_abort(fd);
		return EXIT_SYS;
	}
	if (session_taps(c, s, &ts) == -1) {
		conn_abort(fd);
		taps_finish(&ts);
		(void)close(sigfd);
		return EXIT_SYS;
	}
	if (pipe2(in, O_CLOEXEC) == -1 || pipe2(out, O_CLOEXEC) == -1 ||
	    (pid = fork()) == -1) {
		log_event(LOG_ERR, "error sid=%s exec: %s", s->sid,
		    strerror(errno));
		conn_abort(fd);
		session_fail(c, s, &ts);
		for (int i = 0; i < 2; i++) {
			if (in[i] != -1)
				(void)close(in[i]);
			if (out[i] != -1)
				(void)close(out[i]);
		}
		(void)close(sigfd);
		return EXIT_SYS;
	}
	if (pid == 0) {
		if (dup2(in[0], STDIN_FILENO) == -1 ||
		    dup2(out[1], STDOUT_FILENO) == -1)
			_exit(EXIT_SYS);
		exec_prog(c->prog);
	}
	(void)close(in[0]);
	(void)close(out[1]);
	conn_tune(fd);
	setproctitle("%s -> %s", s->client, c->prog[0]);
	session_record_open(c, &ts, s, c->prog[0]);
	e.cin = e.cout = fd;
	e.sin = out[0];
	e.sout = in[1];
	rc = session_run(c, s, &e, &ts, sigfd);
	child_wait(pid, 5000);
	close(sigfd);
	return rc;
}

/* Exec mode: PROG gets the socket itself on fds 0 and 1. */
int
session_exec(const struct serve_ctx *c, int fd)
{
	struct session s;

	session_begin(&s, fd);
	log_event(LOG_INFO, "open sid=%s client=%s prog=%s", s.sid, s.client,
	    c->prog[0]);
	if (c->ntaps > 0 || c->shared_fd != -1 || c->ninl[0] + c->ninl[1] > 0)
		return session_exec_relayed(c, &s, fd);
	conn_tune(fd);
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1) {
		log_event(LOG_ERR, "error sid=%s dup2: %s", s.sid,
		    strerror(errno));
		return EXIT_SYS;
	}
	exec_prog(c->prog);
}

/* The listener's handler, in the forked child (its own copy of arg). */
int
session_serve(int fd, int shared_fd, const volatile int *capture_off,
    void *arg)
{
	struct serve_ctx *c = arg;

	c->capture_off = *capture_off;
	c->ro.capture_off = capture_off;
	c->shared_fd = shared_fd;
	if (c->prog != NULL)
		return session_exec(c, fd);
	return session_relay(c, fd, fd);
}
