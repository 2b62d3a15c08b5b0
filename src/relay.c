/*
 * The relay: one connection, both directions, until it ends.
 *
 * Per direction (a "half"): splice(2) source -> pipe P, then P -> the
 * destination.  Payload never enters user space.  P is refilled only
 * when it is empty: with a byte count of our own, EAGAIN from a fill
 * then means "source empty" and from a flush "destination full", so we
 * poll for exactly the one thing that lets us go on (NOTES.md 2).
 */

#include <sys/signalfd.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define COPY_BUF	65536	/* --no-splice buffer per direction */
#define ROUNDS		16	/* fill/flush rounds before the other half */

enum { C2S, S2C };

struct half {
	const char	*name;
	int		 from, to;
	int		 p[2];		/* P, or -1 when copying */
	char		*buf;		/* the copy buffer, without splice */
	size_t		 cap;		/* what P or buf holds */
	size_t		 held;		/* bytes in P or buf not yet sent */
	size_t		 off;		/* copy mode: first unsent byte */
	int		 eof;		/* source half-closed */
	int		 done;		/* ... and that FIN was passed on */
	uint64_t	 bytes;		/* delivered to the destination */
};

struct relay {
	struct session		*s;
	const struct relay_opts	*o;
	struct half		 h[2];
	int			 sigfd;
	uint64_t		 last;	/* CLOCK_MONOTONIC of last progress */
	const char		*reason;	/* set when it ends */
	const char		*by;
	const char		*first_fin;
};

static const char *
side_of_source(int dir)
{
	return dir == C2S ? "client" : "server";
}

static const char *
side_of_dest(int dir)
{
	return dir == C2S ? "server" : "client";
}

static void
relay_end(struct relay *r, const char *reason, const char *by)
{
	if (r->reason == NULL) {
		r->reason = reason;
		r->by = by;
	}
}

/* An error moving bytes: a reset is a normal outcome, not a crash. */
static void
relay_fail(struct relay *r, int dir, int from_source, int e)
{
	const char *by = from_source ? side_of_source(dir) :
	    side_of_dest(dir);

	if (e == ECONNRESET || e == EPIPE || e == ETIMEDOUT ||
	    e == EHOSTUNREACH || e == ENETUNREACH) {
		relay_end(r, "reset", by);
		return;
	}
	log_event(LOG_WARNING, "error sid=%s dir=%s %s: %s", r->s->sid,
	    r->h[dir].name, from_source ? "read" : "write", strerror(e));
	relay_end(r, "error", by);
}

static int
half_open_pipe(struct half *h, const struct relay_opts *o)
{
	int sz;

	if (o->no_splice)
		goto copy;
	if (pipe2(h->p, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	/* Under pipe-user-pages-soft this fails: keep the size we got. */
	if (o->pipe_size > 0)
		(void)fcntl(h->p[1], F_SETPIPE_SZ, o->pipe_size);
	if ((sz = fcntl(h->p[1], F_GETPIPE_SZ)) == -1)
		return -1;
	h->cap = (size_t)sz;
	return 0;
copy:
	h->p[0] = h->p[1] = -1;
	if ((h->buf = malloc(COPY_BUF)) == NULL)
		return -1;
	h->cap = COPY_BUF;
	return 0;
}

/* splice(2) says EINVAL for fds it cannot move: copy for this half. */
static int
half_to_copy(struct half *h)
{
	if ((h->buf = malloc(COPY_BUF)) == NULL)
		return -1;
	close(h->p[0]);
	close(h->p[1]);
	h->p[0] = h->p[1] = -1;
	h->cap = COPY_BUF;
	log_event(LOG_DEBUG, "copy dir=%s: splice not supported", h->name);
	return 0;
}

/* Take what the source has into P.  0 when it would block. */
static ssize_t
half_fill(struct relay *r, int dir)
{
	struct half *h = &r->h[dir];
	ssize_t n;

	for (;;) {
		if (h->buf != NULL)
			n = read(h->from, h->buf, h->cap);
		else
			n = splice(h->from, NULL, h->p[1], NULL, h->cap,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 0;
		if (errno == EINVAL && h->buf == NULL && h->bytes == 0 &&
		    half_to_copy(h) == 0)
			continue;
		relay_fail(r, dir, 1, errno);
		return -1;
	}
	if (n == 0) {
		h->eof = 1;
		if (r->first_fin == NULL)
			r->first_fin = side_of_source(dir);
		return 0;
	}
	h->held = (size_t)n;
	h->off = 0;
	r->last = mono_us();
	return n;
}

/* Pass the source's FIN on: shutdown a socket, close a pipe. */
static void
half_close(struct relay *r, int dir)
{
	struct half *h = &r->h[dir];

	h->done = 1;
	log_event(LOG_DEBUG, "shut sid=%s dir=%s", r->s->sid, h->name);
	if (shutdown(h->to, SHUT_WR) == -1) {
		if (errno == ENOTSOCK) {
			(void)close(h->to);
			h->to = -1;
		} else if (errno != ENOTCONN)
			relay_fail(r, dir, 0, errno);
	}
}

/* Send what P holds.  0 when the destination is full. */
static ssize_t
half_flush(struct relay *r, int dir)
{
	struct half *h = &r->h[dir];
	ssize_t n, sent = 0;

	while (h->held > 0) {
		if (h->buf != NULL)
			n = write(h->to, h->buf + h->off, h->held);
		else
			n = splice(h->p[0], NULL, h->to, NULL, h->held,
			    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			relay_fail(r, dir, 0, errno);
			return -1;
		}
		h->held -= (size_t)n;
		h->off += (size_t)n;
		h->bytes += (uint64_t)n;
		sent += n;
	}
	if (sent > 0)
		r->last = mono_us();
	if (h->held == 0 && h->eof && !h->done)
		half_close(r, dir);
	return sent;
}

/* Move one direction as far as it goes without waiting. */
static void
half_pump(struct relay *r, int dir)
{
	struct half *h = &r->h[dir];
	int i;

	for (i = 0; i < ROUNDS && r->reason == NULL; i++) {
		if (h->held > 0 && half_flush(r, dir) <= 0)
			return;
		if (h->held > 0 || h->eof)
			return;
		if (half_fill(r, dir) <= 0) {
			if (h->eof && !h->done && r->reason == NULL)
				half_close(r, dir);
			return;
		}
	}
}

/* What each half waits for: data to read, or room to write. */
static nfds_t
relay_want(struct relay *r, struct pollfd *pfd, int *who)
{
	nfds_t n = 0;
	int dir;

	pfd[n].fd = r->sigfd;
	pfd[n].events = POLLIN;
	who[n++] = -1;
	for (dir = C2S; dir <= S2C; dir++) {
		struct half *h = &r->h[dir];

		if (h->done)
			continue;
		pfd[n].fd = h->held > 0 ? h->to : h->from;
		pfd[n].events = h->held > 0 ? POLLOUT : POLLIN;
		who[n++] = dir;
	}
	return n;
}

static int
relay_poll_ms(struct relay *r)
{
	uint64_t idle, limit;

	if (r->o->idle_ms < 0)
		return -1;
	idle = mono_us() - r->last;
	limit = (uint64_t)r->o->idle_ms * 1000;
	return idle >= limit ? 0 : (int)((limit - idle + 999) / 1000);
}

static void
relay_signal(struct relay *r)
{
	struct signalfd_siginfo si;

	if (read(r->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
		relay_end(r, "shutdown", "relay");
}

static void
relay_loop(struct relay *r)
{
	struct pollfd pfd[3];
	int who[3], ms, rc;
	nfds_t i, n;

	half_pump(r, C2S);
	half_pump(r, S2C);
	while (r->reason == NULL) {
		if (r->h[C2S].done && r->h[S2C].done) {
			relay_end(r, "eof", r->first_fin);
			break;
		}
		n = relay_want(r, pfd, who);
		ms = relay_poll_ms(r);
		if ((rc = poll(pfd, n, ms)) == -1) {
			if (errno == EINTR)
				continue;
			log_event(LOG_ERR, "error sid=%s poll: %s", r->s->sid,
			    strerror(errno));
			relay_end(r, "error", "relay");
			break;
		}
		if (rc == 0 && relay_poll_ms(r) == 0) {
			relay_end(r, "timeout", "relay");
			break;
		}
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (who[i] == -1)
				relay_signal(r);
			else
				half_pump(r, who[i]);
		}
	}
}

/* Close every fd of the connection once; reset them when it failed. */
static void
relay_close(struct relay *r)
{
	int reset = strcmp(r->reason, "reset") == 0 ||
	    strcmp(r->reason, "error") == 0;
	int fds[4] = { r->h[C2S].from, r->h[C2S].to, r->h[S2C].from,
	    r->h[S2C].to };
	int i, j;

	for (i = 0; i < 4; i++) {
		if (fds[i] < 0)
			continue;
		for (j = 0; j < i; j++)
			if (fds[j] == fds[i])
				break;
		if (j < i)
			continue;
		if (reset)
			conn_abort(fds[i]);
		else
			(void)close(fds[i]);
	}
}

static void
half_init(struct half *h, const char *name, int from, int to)
{
	memset(h, 0, sizeof(*h));
	h->name = name;
	h->from = from;
	h->to = to;
	h->p[0] = h->p[1] = -1;
}

/*
 * Relay until both sides are done, a side resets, the idle timeout
 * passes or sigfd says stop.  Logs the end; 0 for a clean end.
 */
int
relay_run(struct session *s, struct relay_ends *e,
    const struct relay_opts *o, int sigfd)
{
	struct relay r;
	int dir, fds[4] = { e->cin, e->cout, e->sin, e->sout }, i;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.o = o;
	r.sigfd = sigfd;
	r.last = mono_us();
	half_init(&r.h[C2S], "c2s", e->cin, e->sout);
	half_init(&r.h[S2C], "s2c", e->sin, e->cout);
	for (i = 0; i < 4; i++)
		if (fd_nonblock(fds[i]) == -1)
			relay_fail(&r, C2S, 1, errno);
	for (dir = C2S; dir <= S2C && r.reason == NULL; dir++)
		if (half_open_pipe(&r.h[dir], o) == -1) {
			log_event(LOG_ERR, "error sid=%s pipe: %s", s->sid,
			    strerror(errno));
			relay_end(&r, "error", "relay");
		}
	if (r.reason == NULL)
		relay_loop(&r);
	relay_close(&r);
	log_event(LOG_INFO, "close sid=%s reason=%s by=%s c2s_bytes=%llu "
	    "s2c_bytes=%llu duration_us=%llu", s->sid, r.reason, r.by,
	    (unsigned long long)r.h[C2S].bytes,
	    (unsigned long long)r.h[S2C].bytes,
	    (unsigned long long)(mono_us() - s->open_mono));
	for (dir = C2S; dir <= S2C; dir++) {
		free(r.h[dir].buf);
		if (r.h[dir].p[0] != -1) {
			close(r.h[dir].p[0]);
			close(r.h[dir].p[1]);
		}
	}
	return strcmp(r.reason, "error") == 0 ? -1 : 0;
}
