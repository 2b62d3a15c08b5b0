/*
 * The relay: one connection, both directions, until it ends.
 *
 * Bytes move in "halves": splice(2) source -> pipe P, then P -> the
 * destination.  Payload never enters user space.  P is refilled only
 * when it is empty: with a byte count of our own, EAGAIN from a fill
 * then means "source empty" and from a flush "destination full", so we
 * poll for exactly the one thing that lets us go on (NOTES.md 2).
 * With taps, each fill is tee(2)d to every tap before P drains, and P
 * is refilled only when every tap has taken the last record (tap.c).
 *
 * A direction is one half (client -> server), or two with inline
 * filters (-x): client -> the filters' stdin, and their stdout ->
 * server.  The halves never wait on each other, so a filter that
 * buffers (sed, gzip) is fed and drained at its own pace.
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

#define COPY_BUF	65536	/* --no-splice buffer per half */
#define ROUNDS		16	/* fill/flush rounds before the next half */
#define MAX_HALVES	4

enum { SIGNALS = -1, TAPS = -2 };	/* who is behind a pollfd */

struct half {
	const char	*dir;		/* "c2s" or "s2c" */
	const char	*src, *dst;	/* "client", "server", or "relay" */
	const char	*tap_dir;	/* taps see this half, as dir */
	int		 counts;	/* its bytes are the direction's total */
	struct inline_chain *chain;	/* the filters it reads from */
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
	struct half		 h[MAX_HALVES];
	int			 nh;
	struct taps		*taps;
	int			 sigfd;
	uint64_t		 last;	/* CLOCK_MONOTONIC of last progress */
	const char		*reason;	/* set when it ends */
	const char		*by;
	const char		*first_fin;
};

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
relay_fail(struct relay *r, struct half *h, int from_source, int e)
{
	const char *by = from_source ? h->src : h->dst;

	if (e == ECONNRESET || e == EPIPE || e == ETIMEDOUT ||
	    e == EHOSTUNREACH || e == ENETUNREACH) {
		relay_end(r, "reset", by);
		return;
	}
	log_event(LOG_WARNING, "error sid=%s dir=%s %s: %s", r->s->sid,
	    h->dir, from_source ? "read" : "write", strerror(e));
	relay_end(r, "error", by);
}

static int
half_open_pipe(struct half *h, const struct relay_opts *o,
    const struct taps *ts)
{
	int sz, want = o->pipe_size;

	if (o->no_splice)
		goto copy;
	if (pipe2(h->p, O_CLOEXEC | O_NONBLOCK) == -1)
		return -1;
	/* P must never hold more than a tap's staging pipe takes in one tee. */
	if (ts->n > 0 && ts->cap > 0 && (want <= 0 || (size_t)want > ts->cap))
		want = (int)ts->cap;
	/* Under pipe-user-pages-soft this fails: keep the size we got. */
	if (want > 0)
		(void)fcntl(h->p[1], F_SETPIPE_SZ, want);
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
	log_event(LOG_DEBUG, "copy dir=%s: splice not supported", h->dir);
	return 0;
}

/*
 * The filters closed their output: if one exited with the reset
 * status, the connection ends in a reset, as the filter asked.
 */
static void
half_filter_eof(struct relay *r, struct half *h)
{
	if (h->chain != NULL && inline_wants_reset(h->chain))
		relay_end(r, "reset", "relay");
}

/* Take what the source has into P.  0 when it would block. */
static ssize_t
half_fill(struct relay *r, struct half *h)
{
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
		relay_fail(r, h, 1, errno);
		return -1;
	}
	if (n == 0) {
		h->eof = 1;
		if (r->first_fin == NULL && strcmp(h->src, "relay") != 0)
			r->first_fin = h->src;
		if (h->tap_dir != NULL)
			taps_record(r->taps, "shut", h->tap_dir, NULL, 0);
		half_filter_eof(r, h);
		return 0;
	}
	h->held = (size_t)n;
	h->off = 0;
	if (h->tap_dir != NULL) {
		if (h->buf != NULL)
			taps_record(r->taps, "data", h->tap_dir, h->buf,
			    (size_t)n);
		else
			taps_tee(r->taps, h->p[0], (size_t)n, h->tap_dir);
		taps_pump(r->taps);
	}
	r->last = mono_us();
	return n;
}

/* Pass the source's FIN on: shutdown a socket, close a pipe. */
static void
half_close(struct relay *r, struct half *h)
{
	h->done = 1;
	log_event(LOG_DEBUG, "shut sid=%s dir=%s to=%s", r->s->sid, h->dir,
	    h->dst);
	if (shutdown(h->to, SHUT_WR) == -1) {
		if (errno == ENOTSOCK) {
			(void)close(h->to);
			h->to = -1;
		} else if (errno != ENOTCONN)
			relay_fail(r, h, 0, errno);
	}
}

/* Send what P holds.  0 when the destination is full. */
static ssize_t
half_flush(struct relay *r, struct half *h)
{
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
			relay_fail(r, h, 0, errno);
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
		half_close(r, h);
	return sent;
}

/* Move one half as far as it goes without waiting. */
static void
half_pump(struct relay *r, struct half *h)
{
	ssize_t n = 0;
	int i;

	for (i = 0; i < ROUNDS && r->reason == NULL; i++) {
		if (h->held > 0 && half_flush(r, h) <= 0)
			return;
		/*
		 * A fill that did not fill P emptied the source: poll will
		 * say when there is more, so skip the splice that would
		 * only say EAGAIN (one syscall per message saved).
		 */
		if (h->held > 0 || h->eof || (i > 0 && (size_t)n < h->cap) ||
		    (h->tap_dir != NULL && !taps_idle(r->taps)))
			return;
		if ((n = half_fill(r, h)) <= 0) {
			if (h->eof && !h->done && r->reason == NULL)
				half_close(r, h);
			return;
		}
	}
}

static void
relay_pump_all(struct relay *r)
{
	int i;

	for (i = 0; i < r->nh; i++)
		half_pump(r, &r->h[i]);
}

static int
relay_done(const struct relay *r)
{
	int i;

	for (i = 0; i < r->nh; i++)
		if (!r->h[i].done)
			return 0;
	return 1;
}

/*
 * What each half waits for: data to read (when the taps have taken
 * the last record), or room to write; and the taps, room in theirs.
 */
static nfds_t
relay_want(struct relay *r, struct pollfd *pfd, int *who)
{
	nfds_t n = 0;
	int i, idle = taps_idle(r->taps);

	pfd[n].fd = r->sigfd;
	pfd[n].events = POLLIN;
	who[n++] = SIGNALS;
	for (i = 0; i < r->nh; i++) {
		struct half *h = &r->h[i];

		if (h->done || (h->held == 0 && (h->eof ||
		    (h->tap_dir != NULL && !idle))))
			continue;
		pfd[n].fd = h->held > 0 ? h->to : h->from;
		pfd[n].events = h->held > 0 ? POLLOUT : POLLIN;
		who[n++] = i;
	}
	return n + taps_want(r->taps, pfd + n, who + n, TAPS);
}

static int
relay_poll_ms(struct relay *r)
{
	uint64_t idle, limit;
	int tms = taps_poll_ms(r->taps), ms;

	if (r->o->idle_ms < 0)
		return tms;
	idle = mono_us() - r->last;
	limit = (uint64_t)r->o->idle_ms * 1000;
	ms = idle >= limit ? 0 : (int)((limit - idle + 999) / 1000);
	return tms >= 0 && tms < ms ? tms : ms;
}

static int
relay_idle_over(struct relay *r)
{
	return r->o->idle_ms >= 0 &&
	    mono_us() - r->last >= (uint64_t)r->o->idle_ms * 1000;
}

static void
relay_signal(struct relay *r)
{
	struct signalfd_siginfo si;
	int on;

	if (read(r->sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
		relay_end(r, "shutdown", "relay");
	else if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
		on = si.ssi_signo == SIGUSR2;
		/* From the listener: its switch, not the signal, is the truth. */
		if (r->o->capture_off != NULL && si.ssi_pid == (uint32_t)getppid())
			on = !*r->o->capture_off;
		taps_capture(r->taps, on);
		log_event(LOG_DEBUG, "capture %s sid=%s", on ? "on" : "off",
		    r->s->sid);
	}
}

static void
relay_loop(struct relay *r)
{
	struct pollfd *pfd;
	int *who, ms, rc, tapped;
	nfds_t i, n;

	pfd = calloc(1 + MAX_HALVES + (size_t)r->taps->n, sizeof(*pfd));
	who = calloc(1 + MAX_HALVES + (size_t)r->taps->n, sizeof(*who));
	if (pfd == NULL || who == NULL) {
		relay_end(r, "error", "relay");
		goto out;
	}
	relay_pump_all(r);
	while (r->reason == NULL) {
		if (relay_done(r)) {
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
		if (rc == 0 && relay_idle_over(r)) {
			relay_end(r, "timeout", "relay");
			break;
		}
		tapped = rc == 0;	/* a tap may be due to be dropped */
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0)
				continue;
			if (who[i] == SIGNALS)
				relay_signal(r);
			else if (who[i] == TAPS)
				tapped = 1;
			else
				half_pump(r, &r->h[who[i]]);
		}
		if (tapped) {
			taps_pump(r->taps);
			relay_pump_all(r);
		}
	}
out:
	free(pfd);
	free(who);
}

/* Close every fd of the connection once; reset them when it failed. */
static void
relay_close(struct relay *r)
{
	int reset = strcmp(r->reason, "reset") == 0 ||
	    strcmp(r->reason, "error") == 0;
	int fds[2 * MAX_HALVES], n = 0, i, j;

	for (i = 0; i < r->nh; i++) {
		fds[n++] = r->h[i].from;
		fds[n++] = r->h[i].to;
	}
	for (i = 0; i < n; i++) {
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

static struct half *
half_add(struct relay *r, const char *dir, const char *src, int from,
    const char *dst, int to)
{
	struct half *h = &r->h[r->nh++];

	memset(h, 0, sizeof(*h));
	h->dir = dir;
	h->src = src;
	h->dst = dst;
	h->from = from;
	h->to = to;
	h->p[0] = h->p[1] = -1;
	return h;
}

/*
 * One direction: straight from src to dst, or through its filters.
 * Taps see the bytes as sent, or with --tap-point delivered, as the
 * filters left them.
 */
static void
relay_direction(struct relay *r, const char *dir, const char *src,
    int from, const char *dst, int to, struct inline_chain *x)
{
	struct half *in, *out;

	if (x == NULL) {
		in = half_add(r, dir, src, from, dst, to);
		in->tap_dir = dir;
		in->counts = 1;
		return;
	}
	in = half_add(r, dir, src, from, "relay", x->in);
	out = half_add(r, dir, "relay", x->out, dst, to);
	out->chain = x;
	out->counts = 1;
	if (r->o->tap_delivered)
		out->tap_dir = dir;
	else
		in->tap_dir = dir;
}

static uint64_t
relay_bytes(const struct relay *r, const char *dir)
{
	int i;

	for (i = 0; i < r->nh; i++)
		if (r->h[i].counts && strcmp(r->h[i].dir, dir) == 0)
			return r->h[i].bytes;
	return 0;
}

static void
relay_record_close(struct relay *r, uint64_t dur)
{
	char p[256];
	int n;

	n = snprintf(p, sizeof(p), "reason=%s\nby=%s\nc2s_bytes=%llu\n"
	    "s2c_bytes=%llu\nduration_us=%llu\n", r->reason, r->by,
	    (unsigned long long)relay_bytes(r, "c2s"),
	    (unsigned long long)relay_bytes(r, "s2c"),
	    (unsigned long long)dur);
	if (n > 0 && (size_t)n < sizeof(p))
		taps_record(r->taps, "close", "-", p, (size_t)n);
}

/*
 * Relay until every half is done, a side resets, the idle timeout
 * passes or sigfd says stop.  Logs the end; 0 for a clean end.
 */
int
relay_run(struct session *s, struct relay_ends *e,
    const struct relay_opts *o, struct taps *ts, int sigfd)
{
	struct relay r;
	uint64_t dur;
	int i;

	memset(&r, 0, sizeof(r));
	r.s = s;
	r.o = o;
	r.sigfd = sigfd;
	r.taps = ts;
	r.last = mono_us();
	relay_direction(&r, "c2s", "client", e->cin, "server", e->sout,
	    e->x[0]);
	relay_direction(&r, "s2c", "server", e->sin, "client", e->cout,
	    e->x[1]);
	for (i = 0; i < r.nh && r.reason == NULL; i++)
		if (fd_nonblock(r.h[i].from) == -1 ||
		    fd_nonblock(r.h[i].to) == -1)
			relay_fail(&r, &r.h[i], 1, errno);
	for (i = 0; i < r.nh && r.reason == NULL; i++)
		if (half_open_pipe(&r.h[i], o, ts) == -1) {
			log_event(LOG_ERR, "error sid=%s pipe: %s", s->sid,
			    strerror(errno));
			relay_end(&r, "error", "relay");
		}
	taps_pump(ts);		/* the open record, before any data */
	if (r.reason == NULL)
		relay_loop(&r);
	relay_close(&r);
	dur = mono_us() - s->open_mono;
	log_event(LOG_INFO, "close sid=%s reason=%s by=%s c2s_bytes=%llu "
	    "s2c_bytes=%llu duration_us=%llu", s->sid, r.reason, r.by,
	    (unsigned long long)relay_bytes(&r, "c2s"),
	    (unsigned long long)relay_bytes(&r, "s2c"),
	    (unsigned long long)dur);
	relay_record_close(&r, dur);
	for (i = 0; i < r.nh; i++) {
		free(r.h[i].buf);
		if (r.h[i].p[0] != -1) {
			close(r.h[i].p[0]);
			close(r.h[i].p[1]);
		}
	}
	return strcmp(r.reason, "error") == 0 ? -1 : 0;
}
