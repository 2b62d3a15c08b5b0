/*
 * Taps: per connection, programs that read the tap stream on stdin.
 *
 * Payload reaches a tap by tee(2) from the relay's pipe P into the
 * tap's staging pipe S, then splice(2) from S into the tap's stdin T:
 * tee is partial and always copies from P's head (NOTES.md 4), so it
 * goes only into an empty S as large as P, and the record header is
 * queued once tee's count is known.  The relay refills P only when
 * every tap is idle, so records stay whole and in order.  Under
 * --tap-policy drop a busy tap does not hold the relay back: it misses
 * the record, and a gap record with the exact count tells it so; the
 * same when capture is switched off (SIGUSR1).
 */

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define TAP_REAP_MS	5000	/* after EOF, then SIGKILL */
#define TAP_FLUSH_MS	5000	/* at close, without --tap-timeout */

static void
tap_status(pid_t pid, char *buf, size_t len)
{
	int st;

	if (waitpid(pid, &st, WNOHANG) != pid)
		snprintf(buf, len, "running");
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "exited %d", WEXITSTATUS(st));
}

static void
tap_close_fds(struct tap *t)
{
	if (t->fd != -1)
		(void)close(t->fd);
	if (t->s[0] != -1) {
		(void)close(t->s[0]);
		(void)close(t->s[1]);
	}
	t->fd = t->s[0] = t->s[1] = -1;
}

/* A tap that died or stalls is dropped; the connection goes on. */
static void
tap_drop(struct taps *ts, struct tap *t, const char *why)
{
	char st[64];

	if (t->dead)
		return;
	t->dead = 1;
	tap_close_fds(t);
	tap_status(t->pid, st, sizeof(st));
	if (strcmp(st, "running") != 0)
		t->pid = -1;
	log_event(t->quiet ? LOG_DEBUG : LOG_WARNING,
	    "tap sid=%s cmd=\"%s\" dropped: %s (%s)", ts->s->sid, t->cmd,
	    why, st);
}

/* Run CMD with /bin/sh, stdin the read end of T. */
static int
tap_spawn(struct taps *ts, struct tap *t, int out_fd)
{
	int T[2];

	if (pipe2(T, O_CLOEXEC) == -1)
		return -1;
	if (pipe2(t->s, O_CLOEXEC | O_NONBLOCK) == -1 ||
	    (t->pid = fork()) == -1) {
		(void)close(T[0]);
		(void)close(T[1]);
		return -1;
	}
	if (t->pid == 0) {
		if (dup2(T[0], STDIN_FILENO) == -1 || (out_fd != STDOUT_FILENO &&
		    dup2(out_fd, STDOUT_FILENO) == -1))
			_exit(EXIT_SYS);
		child_reset_signals();
		closefrom(3);
		execl("/bin/sh", "sh", "-c", t->cmd, (char *)NULL);
		_exit(127);
	}
	(void)close(T[0]);
	t->fd = T[1];
	if (fd_nonblock(t->fd) == -1)
		return -1;
	/* Bigger pipes, fewer wakeups; under the user's pipe limit, not. */
	(void)fcntl(t->fd, F_SETPIPE_SZ, ts->pipe_size);
	(void)fcntl(t->s[1], F_SETPIPE_SZ, ts->pipe_size);
	return 0;
}

/*
 * Start every tap.  out_fd becomes their stdout: the relay's own, or
 * its stderr where stdout is the client (inetd).
 */
int
taps_start(struct taps *ts, const struct session *s, char **cmds, int n,
    int out_fd)
{
	int i, sz;

	ts->s = s;
	ts->n = 0;
	if (n == 0)
		return 0;
	if ((ts->t = calloc((size_t)n, sizeof(*ts->t))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		struct tap *t = &ts->t[ts->n++];

		t->cmd = cmds[i];
		t->fd = t->s[0] = t->s[1] = -1;
		if (tap_spawn(ts, t, out_fd) == -1) {
			tap_drop(ts, t, strerror(errno));
			continue;
		}
		/* P must never hold more than an S can take in one tee. */
		if ((sz = fcntl(t->s[1], F_GETPIPE_SZ)) == -1)
			return -1;
		if (ts->cap == 0 || (size_t)sz < ts->cap)
			ts->cap = (size_t)sz;
	}
	return 0;
}

/*
 * A tap that is only a pipe: the relay's end of the --shared-tap
 * collector.  It gets the same records, by the same tee rounds.
 */
int
taps_add_fd(struct taps *ts, int fd, const char *name)
{
	struct tap *t, *nt;
	int sz;

	if ((nt = reallocarray(ts->t, (size_t)ts->n + 1, sizeof(*nt))) == NULL)
		return -1;
	ts->t = nt;
	t = &ts->t[ts->n++];
	memset(t, 0, sizeof(*t));
	t->cmd = (char *)name;
	t->pid = -1;
	t->fd = fd;
	t->quiet = 1;
	if (fd_nonblock(fd) == -1 ||
	    pipe2(t->s, O_CLOEXEC | O_NONBLOCK) == -1) {
		t->s[0] = t->s[1] = -1;
		tap_drop(ts, t, strerror(errno));
		return 0;
	}
	(void)fcntl(t->s[1], F_SETPIPE_SZ, ts->pipe_size);
	if ((sz = fcntl(t->s[1], F_GETPIPE_SZ)) == -1)
		return -1;
	if (ts->cap == 0 || (size_t)sz < ts->cap)
		ts->cap = (size_t)sz;
	return 0;
}

static uint64_t
taps_us(const struct taps *ts)
{
	return ts->s->open_us + (mono_us() - ts->s->open_mono);
}

static int
buf_add(char **buf, size_t *cap, size_t *len, const void *p, size_t n)
{
	char *nb;

	if (*len + n > *cap) {
		if ((nb = realloc(*buf, *len + n)) == NULL)
			return -1;
		*buf = nb;
		*cap = *len + n;
	}
	if (n > 0)
		memcpy(*buf + *len, p, n);
	*len += n;
	return 0;
}

/*
 * Queue a record for t.  While a payload is still in S (staged), what
 * comes next must wait behind it, in after; out is what precedes S.
 */
static int
tap_queue(struct tap *t, const char *hdr, const void *p, size_t len)
{
	if (t->outlen == 0 && t->staged == 0)
		t->since = mono_us();
	if (t->staged > 0)
		return buf_add(&t->after, &t->aftercap, &t->afterlen, hdr,
		    TAP_HDR) == -1 || buf_add(&t->after, &t->aftercap,
		    &t->afterlen, p, len) == -1 ? -1 : 0;
	return buf_add(&t->out, &t->outcap, &t->outlen, hdr, TAP_HDR) ==
	    -1 || buf_add(&t->out, &t->outcap, &t->outlen, p, len) == -1 ?
	    -1 : 0;
}

/* S is through: what waited behind it goes out next. */
static void
tap_unstage(struct tap *t)
{
	char *b = t->out;
	size_t c = t->outcap;

	t->out = t->after;
	t->outcap = t->aftercap;
	t->outlen = t->afterlen;
	t->outoff = 0;
	t->after = b;
	t->aftercap = c;
	t->afterlen = 0;
}

static int
tap_busy(const struct tap *t)
{
	return t->outlen > 0 || t->staged > 0 || t->afterlen > 0;
}

static int
dir_index(const char *dir)
{
	return strcmp(dir, "s2c") == 0;
}

/*
 * Should t miss this data record?  With capture off, or under the drop
 * policy while it still has the last one; the bytes are counted for a
 * gap.
 */
static int
tap_skips(const struct taps *ts, struct tap *t, const char *dir, size_t n)
{
	if (!ts->off && (!ts->drop || !tap_busy(t)))
		return 0;
	t->gap[dir_index(dir)] += n;
	return 1;
}

/* Say what t missed before anything that comes after it. */
static int
tap_gaps(const struct taps *ts, struct tap *t)
{
	static const char *dirs[2] = { "c2s", "s2c" };
	char hdr[TAP_HDR], p[32];
	int d, n;

	for (d = 0; d < 2; d++) {
		if (t->gap[d] == 0)
			continue;
		n = snprintf(p, sizeof(p), "bytes=%llu\n",
		    (unsigned long long)t->gap[d]);
		if (tap_header(hdr, "gap", ts->s->sid, taps_us(ts), dirs[d],
		    (uint64_t)n) == -1 || tap_queue(t, hdr, p, (size_t)n) == -1)
			return -1;
		t->gap[d] = 0;
	}
	return 0;
}

/* A record whose payload is copied: open, shut, close, no-splice data. */
void
taps_record(struct taps *ts, const char *kind, const char *dir,
    const void *p, size_t len)
{
	char hdr[TAP_HDR];
	int i, data = strcmp(kind, "data") == 0;

	if (tap_header(hdr, kind, ts->s->sid, taps_us(ts), dir, len) == -1)
		return;
	for (i = 0; i < ts->n; i++) {
		struct tap *t = &ts->t[i];

		if (t->dead || (data && tap_skips(ts, t, dir, len)))
			continue;
		if (tap_gaps(ts, t) == -1 || tap_queue(t, hdr, p, len) == -1)
			tap_drop(ts, t, strerror(errno));
	}
}

/* The head n bytes of pipe pfd become one data record in every tap. */
void
taps_tee(struct taps *ts, int pfd, size_t n, const char *dir)
{
	char hdr[TAP_HDR];
	ssize_t k;
	int i;

	if (tap_header(hdr, "data", ts->s->sid, taps_us(ts), dir, n) == -1)
		return;
	for (i = 0; i < ts->n; i++) {
		struct tap *t = &ts->t[i];

		if (t->dead || tap_skips(ts, t, dir, n))
			continue;
		if (tap_gaps(ts, t) == -1) {
			tap_drop(ts, t, strerror(errno));
			continue;
		}
		while ((k = tee(pfd, t->s[1], n, SPLICE_F_NONBLOCK)) == -1 &&
		    errno == EINTR)
			;
		if (k != (ssize_t)n) {
			tap_drop(ts, t, k == -1 ? strerror(errno) :
			    "short tee");
			continue;
		}
		if (tap_queue(t, hdr, NULL, 0) == -1) {
			tap_drop(ts, t, strerror(errno));
			continue;
		}
		t->staged = n;
	}
}

/* SIGUSR1/SIGUSR2: data becomes gap records, or data again. */
void
taps_capture(struct taps *ts, int on)
{
	ts->off = !on;
}

/* May the relay refill its pipe?  Not while a tap that waits is busy. */
int
taps_idle(const struct taps *ts)
{
	int i;

	if (ts->drop)
		return 1;
	for (i = 0; i < ts->n; i++)
		if (!ts->t[i].dead && tap_busy(&ts->t[i]))
			return 0;
	return 1;
}

/* Queued bytes first, then the staged payload; -1 when it blocks. */
static int
tap_flush(struct taps *ts, struct tap *t)
{
	ssize_t n;

again:
	while (t->outoff < t->outlen) {
		n = write(t->fd, t->out + t->outoff, t->outlen - t->outoff);
		if (n == -1)
			goto fail;
		t->outoff += (size_t)n;
		t->since = mono_us();
	}
	t->outoff = t->outlen = 0;
	while (t->staged > 0) {
		n = splice(t->s[0], NULL, t->fd, NULL, t->staged,
		    SPLICE_F_NONBLOCK);
		if (n == -1)
			goto fail;
		t->staged -= (size_t)n;
		t->since = mono_us();
	}
	if (t->afterlen > 0) {
		tap_unstage(t);
		goto again;
	}
	return 0;
fail:
	if (errno == EAGAIN || errno == EINTR)
		return -1;
	tap_drop(ts, t, errno == EPIPE ? "tap exited" : strerror(errno));
	return 0;
}

/* Give every tap what it can take now; drop the ones stuck too long. */
void
taps_pump(struct taps *ts)
{
	uint64_t now;
	int i;

	for (i = 0; i < ts->n; i++) {
		struct tap *t = &ts->t[i];

		if (t->dead || !tap_busy(t))
			continue;
		if (tap_flush(ts, t) == 0 || ts->timeout_ms <= 0)
			continue;
		now = mono_us();
		if (now - t->since >= (uint64_t)ts->timeout_ms * 1000)
			tap_drop(ts, t, "took nothing for --tap-timeout");
	}
}

/* The taps waiting for room in their pipe. */
nfds_t
taps_want(const struct taps *ts, struct pollfd *pfd, int *who, int tag)
{
	nfds_t n = 0;
	int i;

	for (i = 0; i < ts->n; i++) {
		const struct tap *t = &ts->t[i];

		if (t->dead || !tap_busy(t))
			continue;
		pfd[n].fd = t->fd;
		pfd[n].events = POLLOUT;
		who[n++] = tag;
	}
	return n;
}

/* Milliseconds until the next stalled tap is due to be dropped. */
int
taps_poll_ms(const struct taps *ts)
{
	uint64_t now = mono_us(), due, lim;
	int i, ms = -1, m;

	if (ts->timeout_ms <= 0)
		return -1;
	lim = (uint64_t)ts->timeout_ms * 1000;
	for (i = 0; i < ts->n; i++) {
		const struct tap *t = &ts->t[i];

		if (t->dead || !tap_busy(t))
			continue;
		due = t->since + lim;
		m = due <= now ? 0 : (int)((due - now + 999) / 1000);
		if (ms == -1 || m < ms)
			ms = m;
	}
	return ms;
}

static void
taps_reap(struct taps *ts)
{
	uint64_t end = mono_us() + TAP_REAP_MS * 1000;
	int i, left, st;

	for (;;) {
		for (i = 0, left = 0; i < ts->n; i++) {
			if (ts->t[i].pid <= 0)
				continue;
			if (waitpid(ts->t[i].pid, &st, WNOHANG) == 0)
				left++;
			else
				ts->t[i].pid = -1;
		}
		if (left == 0)
			return;
		if (mono_us() >= end)
			break;
		(void)poll(NULL, 0, 10);
	}
	for (i = 0; i < ts->n; i++)
		if (ts->t[i].pid > 0) {
			log_event(LOG_WARNING, "tap sid=%s cmd=\"%s\" killed: "
			    "no exit %d ms after EOF", ts->s->sid,
			    ts->t[i].cmd, TAP_REAP_MS);
			(void)kill(ts->t[i].pid, SIGKILL);
			(void)waitpid(ts->t[i].pid, &st, 0);
		}
}

/*
 * The connection is over and "close" queued: let the taps take the
 * rest, give them EOF, and reap them.  Never leaves a zombie.
 */
void
taps_finish(struct taps *ts)
{
	struct pollfd pfd[64];
	int who[64], i;
	nfds_t n;

	if (ts->timeout_ms <= 0)
		ts->timeout_ms = TAP_FLUSH_MS;
	for (;;) {
		taps_pump(ts);
		n = taps_want(ts, pfd, who, 0);
		if (n == 0)
			break;
		if (n > 64)
			n = 64;
		if (poll(pfd, n, taps_poll_ms(ts)) == -1 && errno != EINTR)
			break;
	}
	for (i = 0; i < ts->n; i++) {
		tap_close_fds(&ts->t[i]);
		free(ts->t[i].out);
		free(ts->t[i].after);
	}
	taps_reap(ts);
	free(ts->t);
	ts->t = NULL;
	ts->n = 0;
}
