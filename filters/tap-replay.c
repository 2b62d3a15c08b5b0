/*
 * tap-replay: play a "ts_proxy recording v1" TSV over one connection.
 *
 * Server role (default): the connection is on fd 0 (read) and fd 1
 * (write), as under `tcptap LISTEN -- tap-replay FILE`, inetd or
 * tcpserver.  Each c2s line is read from the client and checked, each
 * s2c line is sent.  Client role (--connect): the other way round,
 * against a real server.  Lines are played one at a time as they are
 * read, so memory stays bounded and a huge recording starts at once;
 * the price is that a malformed line is only found when it is reached.
 *
 * Framing (-H and the framing long options) is tap-frame's, through
 * src/frame.c: a recording made with `tap-frame ... | tap-tsv` holds
 * frame payloads, and the same options put the headers back.  -H 0 is
 * a plain byte stream: however the peer segments it, the received bytes
 * must be the concatenation of the lines, in order.
 *
 * Reads ask for no more than the current line still needs, so the
 * bytes of the next line stay in the kernel and no buffer is carried
 * from line to line.  Anything the peer does that the recording does not
 * say (other bytes, fewer bytes, a frame too long) ends the replay with
 * one line naming FILE:LINE, and exit 1.
 */

#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcptap.h"

#define HEX_SHOW	8	/* bytes of each side a mismatch shows */
#define CONNECT_MS	10000	/* as tcptap's default --connect-timeout */
#define DRAIN_BUF	65536

enum { C2S, S2C };

struct replay {
	const char		*file;
	FILE			*f;
	struct tsv_reader	 r;
	struct frame_spec	 spec;
	size_t			 hsize;		/* frame header bytes; 0: -H 0 */
	int			 client;	/* --connect: we send c2s */
	int			 rfd, wfd;	/* the connection */
	int			 idle_ms;	/* -w, -1 for none */
	int			 timing;	/* --timing original */
	double			 speed;		/* --speed */
	int64_t			 max_gap_us;	/* --max-gap, -1 for none */
	uint64_t		 prev_us;	/* recorded time of the last line */
	uint64_t		 prev_at;	/* mono_us() it was played at */
	uint64_t		 skip[2];	/* --skip bytes left, per dir */
	unsigned char		*buf;		/* what the peer sent */
	size_t			 cap;
};

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: tap-replay [-H bytes] [-m max] [-w secs] [--length-offset n]\n"
"                  [--little-endian] [--length-includes-header | --adjust n]\n"
"                  [--keep-header] [--skip n] [--connect addr]\n"
"                  [--timing original|none] [--speed x] [--max-gap secs] file\n");
	exit(status);
}

/*
 * Every message goes through log_event: under inetd fd 2 can be the
 * client's socket, and a message written there would reach the client
 * as data (log.c sends it to syslog instead).
 */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int status, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_event(LOG_ERR, "%s", msg);
	exit(status);
}

/* A replay failure at the current line: the peer or the file is wrong. */
static void __attribute__((noreturn, format(printf, 2, 3)))
fail(const struct replay *rp, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	die(EXIT_DATA, "%s:%llu: %s", rp->file,
	    (unsigned long long)rp->r.line, msg);
}

/* Up to HEX_SHOW bytes as hex, "..." when there are more, "(none)". */
static const char *
hex_short(char *out, const unsigned char *p, size_t n)
{
	size_t k = n < HEX_SHOW ? n : HEX_SHOW;

	if (n == 0)
		return "(none)";
	out[hex_encode(out, p, k)] = '\0';
	if (n > k)
		strcat(out, "...");
	return out;
}

static size_t
first_diff(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen)
{
	size_t i, n = alen < blen ? alen : blen;

	for (i = 0; i < n && a[i] == b[i]; i++)
		;
	return i;
}

/*
 * Did the peer send exactly the recorded bytes?  how says why the
 * bytes ended, when they ended early ("" when they did not).
 */
static void
check(const struct replay *rp, const char *dir, const unsigned char *exp,
    size_t elen, const unsigned char *got, size_t glen, const char *how)
{
	char eh[2 * HEX_SHOW + 4], gh[2 * HEX_SHOW + 4];
	size_t off = first_diff(exp, elen, got, glen);

	if (off == elen && off == glen)
		return;
	if (off == glen && *how != '\0')
		fail(rp, "%s short read: expected %zu bytes, got %zu %s",
		    dir, elen, glen, how);
	fail(rp, "%s mismatch: expected %zu bytes, got %zu%s%s, first "
	    "difference at offset %zu: expected %s, got %s", dir, elen, glen,
	    *how != '\0' ? " " : "", how, off,
	    hex_short(eh, exp + off, elen - off),
	    hex_short(gh, got + off, glen - off));
}

static void
buf_need(struct replay *rp, size_t n)
{
	unsigned char *p;

	if (n <= rp->cap)
		return;
	if ((p = realloc(rp->buf, n)) == NULL)
		die(EXIT_SYS, "realloc %zu bytes: %s", n, strerror(errno));
	rp->buf = p;
	rp->cap = n;
}

/*
 * Read what is there, at most n bytes, waiting up to ms (-1: forever).
 * Returns the bytes read, 0 at EOF or reset (the peer is gone either
 * way), -1 when nothing came in time.
 */
static ssize_t
read_some(const struct replay *rp, void *p, size_t n, int ms)
{
	struct pollfd pfd;
	ssize_t got;
	int r;

	for (;;) {
		pfd.fd = rp->rfd;
		pfd.events = POLLIN;
		if ((r = poll(&pfd, 1, ms)) == -1) {
			if (errno == EINTR)
				continue;
			die(EXIT_SYS, "poll: %s", strerror(errno));
		}
		if (r == 0)
			return -1;
		if ((got = read(rp->rfd, p, n)) >= 0)
			return got;
		if (errno == ECONNRESET)
			return 0;
		/* inetd may hand over a non-blocking socket. */
		if (errno != EINTR && errno != EAGAIN)
			die(EXIT_SYS, "read: %s", strerror(errno));
	}
}

static const char *
ended_how(const struct replay *rp, ssize_t r, char *buf, size_t len)
{
	if (r == 0)
		return "before the connection closed";
	snprintf(buf, len, "and then nothing for %d s (-w)",
	    rp->idle_ms / 1000);
	return buf;
}

/*
 * n bytes of p from the peer, however segmented, compared as they
 * arrive: a wrong byte is reported at once, not when a line's worth has
 * come (the peer may wait for an answer before sending the rest).
 */
static void
recv_stream(struct replay *rp, const char *dir, const unsigned char *p,
    size_t n)
{
	char how[128];
	size_t got = 0;
	ssize_t r;

	buf_need(rp, n);
	while (got < n) {
		if ((r = read_some(rp, rp->buf + got, n - got,
		    rp->idle_ms)) <= 0)
			check(rp, dir, p, n, rp->buf, got,
			    ended_how(rp, r, how, sizeof(how)));
		got += (size_t)r;
		if (memcmp(rp->buf + got - (size_t)r, p + got - (size_t)r,
		    (size_t)r) == 0)
			continue;
		/* Take what else is already there, for the message. */
		while (got < n && (r = read_some(rp, rp->buf + got, n - got,
		    0)) > 0)
			got += (size_t)r;
		check(rp, dir, p, n, rp->buf, got, "so far");
	}
}

/* The peer's next frame, header and payload, checked against p. */
static void
recv_frame(struct replay *rp, const char *dir, const unsigned char *p,
    size_t n)
{
	char how[128], tail[48], why[256];
	size_t hs = rp->hsize, got = 0;
	uint64_t len;
	ssize_t r;

	buf_need(rp, hs);
	while (got < hs) {
		if ((r = read_some(rp, rp->buf + got, hs - got,
		    rp->idle_ms)) <= 0)
			fail(rp, "%s short read: expected a frame of %zu bytes, "
			    "got %zu of its %zu header bytes %s", dir, n, got,
			    hs, ended_how(rp, r, how, sizeof(how)));
		got += (size_t)r;
	}
	if (frame_decode(&rp->spec, rp->buf, &len) == -1) {
		frame_explain(&rp->spec, rp->buf, why, sizeof(why));
		fail(rp, "%s bad frame: %s", dir, why);
	}
	/*
	 * Grow the buffer as the payload arrives (64 KiB, then doubling):
	 * a header announcing up to -m bytes must not cost -m bytes of
	 * memory before any of them came.
	 */
	for (got = 0; got < len; got += (size_t)r) {
		size_t want = (size_t)len - got;

		if (want > DRAIN_BUF && want > got)
			want = got > DRAIN_BUF ? got : DRAIN_BUF;
		buf_need(rp, hs + got + want);
		if ((r = read_some(rp, rp->buf + hs + got, want,
		    rp->idle_ms)) <= 0)
			break;
	}
	how[0] = '\0';
	if (got < len)
		snprintf(how, sizeof(how), "of a %llu-byte frame %s",
		    (unsigned long long)len, ended_how(rp, r, tail,
		    sizeof(tail)));
	/* With --keep-header the recording holds the header too. */
	if (rp->spec.keep_header)
		check(rp, dir, p, n, rp->buf, hs + got, how);
	else
		check(rp, dir, p, n, rp->buf + hs, got, how);
}

/* Write all of iov; the peer going away is a replay failure. */
static void
send_iov(const struct replay *rp, const char *dir, struct iovec *iov,
    int iovcnt)
{
	ssize_t w;

	while (iovcnt > 0) {
		if ((w = writev(rp->wfd, iov, iovcnt)) == -1) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A non-blocking fd from inetd: wait. */
				struct pollfd pfd = { rp->wfd, POLLOUT, 0 };

				if (errno == EAGAIN && poll(&pfd, 1, -1) == -1 &&
				    errno != EINTR)
					die(EXIT_SYS, "poll: %s",
					    strerror(errno));
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				fail(rp, "%s: the peer closed the connection "
				    "before this line was sent (%s)", dir,
				    strerror(errno));
			die(EXIT_SYS, "write: %s", strerror(errno));
		}
		for (; iovcnt > 0 && (size_t)w >= iov->iov_len; iov++, iovcnt--)
			w -= (ssize_t)iov->iov_len;
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
}

/* One line to the peer, with a frame header unless raw. */
static void
send_line(const struct replay *rp, const char *dir, const unsigned char *p,
    size_t n, int raw)
{
	unsigned char hdr[FRAME_HDR_MAX];
	struct iovec iov[2];
	int i = 0;

	if (!raw && !rp->spec.keep_header) {
		if (frame_encode(&rp->spec, n, hdr) == -1)
			fail(rp, "%s: a %zu-byte payload does not fit the "
			    "frame header's length field", dir, n);
		iov[i].iov_base = hdr;
		iov[i++].iov_len = rp->hsize;
	}
	iov[i].iov_base = (void *)(uintptr_t)p;
	iov[i++].iov_len = n;
	send_iov(rp, dir, iov, i);
}

static void
sleep_until(uint64_t due)
{
	struct timespec ts;
	int e;

	ts.tv_sec = (time_t)(due / 1000000);
	ts.tv_nsec = (long)(due % 1000000) * 1000;
	while ((e = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
	    NULL)) != 0)
		if (e != EINTR)
			die(EXIT_SYS, "clock_nanosleep: %s", strerror(e));
}

/*
 * Wait until a line we send is due: the recorded gap since the previous
 * line, scaled by --speed and capped by --max-gap, after that line was
 * played.  A line we received counts from when it arrived, so a slow
 * peer does not eat the recorded think time; a line we sent counts from
 * when it was due, so a long run of sends does not drift.
 */
static void
pace(struct replay *rp, uint64_t us)
{
	uint64_t gap = us > rp->prev_us ? us - rp->prev_us : 0;

	rp->prev_us = us;
	if (!rp->timing)
		return;
	gap = (uint64_t)((double)gap / rp->speed);
	if (rp->max_gap_us >= 0 && gap > (uint64_t)rp->max_gap_us)
		gap = (uint64_t)rp->max_gap_us;
	rp->prev_at += gap;
	sleep_until(rp->prev_at);
}

/* --skip: are these bytes of dir still before the framed part? */
static int
skipping(struct replay *rp, int d, size_t n)
{
	if (rp->skip[d] == 0)
		return 0;
	rp->skip[d] -= n < rp->skip[d] ? n : rp->skip[d];
	return 1;
}

static void
play_line(struct replay *rp, const struct tsv_line *l)
{
	int d = strcmp(l->dir, "c2s") == 0 ? C2S : S2C;
	int raw = rp->hsize == 0 || skipping(rp, d, l->len);

	if ((d == C2S) == (rp->client != 0)) {
		pace(rp, l->us);
		send_line(rp, l->dir, l->p, l->len, raw);
		return;
	}
	if (raw)
		recv_stream(rp, l->dir, l->p, l->len);
	else
		recv_frame(rp, l->dir, l->p, l->len);
	rp->prev_us = l->us;
	rp->prev_at = mono_us();
}

/*
 * Our side is done: say so with a FIN.  fd 1 is a pipe under tcptap's
 * exec mode; closing it is the FIN there.  Where fd 0 and 1 are one
 * socket (inetd), close(1) alone would not end anything.
 */
static void
half_close(const struct replay *rp)
{
	if (shutdown(rp->wfd, SHUT_WR) == 0)
		return;
	if (errno == ENOTCONN)
		return;		/* the peer has gone already */
	if (errno != ENOTSOCK)
		die(EXIT_SYS, "shutdown: %s", strerror(errno));
	if (close(rp->wfd) == -1)
		die(EXIT_SYS, "close: %s", strerror(errno));
}

/*
 * Client role, after the last line: the server must close too, and
 * send nothing more than the recording has.
 */
static void
expect_eof(struct replay *rp)
{
	char hex[2 * HEX_SHOW + 4];
	ssize_t r;

	buf_need(rp, DRAIN_BUF);
	if ((r = read_some(rp, rp->buf, DRAIN_BUF, rp->idle_ms)) == 0)
		return;
	if (r == -1)
		die(EXIT_DATA, "%s: end of the recording: the server did not "
		    "close the connection within %d s (-w)", rp->file,
		    rp->idle_ms / 1000);
	die(EXIT_DATA, "%s: end of the recording: s2c mismatch: expected "
	    "no more bytes, got %zd: %s", rp->file, r,
	    hex_short(hex, rp->buf, (size_t)r));
}

static void
replay_run(struct replay *rp)
{
	struct tsv_line l;
	int rv;

	rp->prev_at = mono_us();
	rp->skip[C2S] = rp->skip[S2C] = rp->spec.skip;
	while ((rv = tsv_next(&rp->r, &l)) == 1)
		play_line(rp, &l);
	if (rv == -1)
		die(errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s", rp->r.err);
	half_close(rp);
	if (rp->client)
		expect_eof(rp);
}

/*
 * --connect: the socket is both ends of the conversation.  A spec that
 * is no address at all is a usage error; one that does not resolve, or
 * does not answer, a system error.
 */
static void
connect_to(struct replay *rp, const char *spec)
{
	struct endpoint *eps;
	char e[512], peer[ADDR_STRLEN];
	size_t n;
	int rv, fd;

	if ((rv = addr_resolve(spec, 0, &eps, &n, e, sizeof(e))) ==
	    ADDR_BADSPEC) {
		warnx("--connect %s: %s", spec, e);
		usage(EXIT_USAGE);
	}
	if (rv != 0)
		die(EXIT_SYS, "%s: %s", spec, e);
	fd = conn_to_target(eps, n, rp->idle_ms > 0 ? rp->idle_ms :
	    CONNECT_MS, peer, sizeof(peer), e, sizeof(e));
	free(eps);
	if (fd == -1)
		die(EXIT_SYS, "connect %s", e);
	/* One conversation, one step at a time: a blocking socket. */
	if (fd_block(fd) == -1)
		die(EXIT_SYS, "fcntl: %s", strerror(errno));
	conn_tune(fd);
	rp->rfd = rp->wfd = fd;
}

static long long
opt_num(const char *s, long long min, long long max, const char *what)
{
	const char *errstr;
	long long n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL) {
		warnx("%s %s: %s", what, s, errstr);
		usage(EXIT_USAGE);
	}
	return n;
}

/* Seconds or a factor: a decimal number in [min, max]. */
static double
opt_real(const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v < min || v > max) {
		warnx("%s %s: not a number from %g to %g", what, s, min, max);
		usage(EXIT_USAGE);
	}
	return v;
}

/* frame.c parses -H, -m and these FRAME_OPT_* (>= 1000) for us. */
enum { OPT_CONNECT = 2000, OPT_MAX_GAP, OPT_SPEED, OPT_TIMING };
static const struct option longopts[] = {
	FRAME_LONGOPTS,
	{ "connect",	required_argument,	NULL,	OPT_CONNECT },
	{ "help",	no_argument,		NULL,	'h' },
	{ "max-gap",	required_argument,	NULL,	OPT_MAX_GAP },
	{ "speed",	required_argument,	NULL,	OPT_SPEED },
	{ "timing",	required_argument,	NULL,	OPT_TIMING },
	{ NULL,		0,			NULL,	0 }
};

static void
own_option(struct replay *rp, int ch, const char *arg, const char **conn)
{
	switch (ch) {
	case OPT_CONNECT:
		*conn = arg;
		break;
	case OPT_MAX_GAP:
		rp->max_gap_us = (int64_t)(1e6 * opt_real(arg, 0, 86400,
		    "--max-gap"));
		break;
	case OPT_SPEED:
		rp->speed = opt_real(arg, 1e-3, 1e6, "--speed");
		break;
	case OPT_TIMING:
		if (strcmp(arg, "original") != 0 && strcmp(arg, "none") != 0) {
			warnx("--timing %s: not original or none", arg);
			usage(EXIT_USAGE);
		}
		rp->timing = strcmp(arg, "original") == 0;
		break;
	case 'h':
		usage(0);
	case 'w':
		rp->idle_ms = 1000 * (int)opt_num(arg, 1, 86400, "-w");
		break;
	default:
		usage(EXIT_USAGE);
	}
}

/* Returns the --connect address, or NULL for the server role. */
static const char *
parse_opts(int argc, char *argv[], struct replay *rp)
{
	const char *conn = NULL;
	char e[256];
	int ch;

	while ((ch = getopt_long(argc, argv, FRAME_SHORTOPTS "hw:", longopts,
	    NULL)) != -1) {
		switch (frame_option(&rp->spec, ch, optarg, e, sizeof(e))) {
		case -1:
			warnx("%s", e);
			usage(EXIT_USAGE);
		case 0:
			own_option(rp, ch, optarg, &conn);
			break;
		}
	}
	if (argc - optind != 1) {
		warnx(argc == optind ? "no recording given" :
		    "one recording only");
		usage(EXIT_USAGE);
	}
	/* -H 0 included: then no other framing option applies. */
	if (frame_spec_check(&rp->spec, e, sizeof(e)) == -1) {
		warnx("%s", e);
		usage(EXIT_USAGE);
	}
	rp->hsize = frame_hdr_size(&rp->spec);
	return conn;
}

int
main(int argc, char *argv[])
{
	struct replay rp;
	const char *conn;
	uint64_t max;

	memset(&rp, 0, sizeof(rp));
	frame_spec_init(&rp.spec);
	rp.rfd = STDIN_FILENO;
	rp.wfd = STDOUT_FILENO;
	rp.idle_ms = -1;
	rp.timing = 1;
	rp.speed = 1;
	rp.max_gap_us = -1;
	conn = parse_opts(argc, argv, &rp);
	rp.client = conn != NULL;
	/* In the server role under inetd, fd 2 may be the client. */
	log_init(LOG_INFO, !rp.client && log_fd2_is_socket0());
	/* A peer that goes away is a replay failure, not a signal. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR)
		die(EXIT_SYS, "signal: %s", strerror(errno));

	rp.file = argv[optind];
	if ((rp.f = fopen(rp.file, "r")) == NULL)
		die(EXIT_SYS, "%s: %s", rp.file, strerror(errno));
	/* A line with --keep-header holds the header as well. */
	max = rp.spec.max + (rp.spec.keep_header ? rp.hsize : 0);
	if (tsv_reader_init(&rp.r, rp.f, rp.file, max) == -1)
		die(EXIT_SYS, "%s", rp.r.err);
	if (rp.client)
		connect_to(&rp, conn);
	replay_run(&rp);
	tsv_reader_free(&rp.r);
	(void)fclose(rp.f);
	free(rp.buf);
	return 0;
}
