/*
 * tap-redact: replace what matches POSIX extended regexes (-e) or fixed
 * strings (-F) with '*' of the same length, in the data records of a
 * tap stream, per direction; or with -r in raw bytes, stdin to stdout,
 * so it also works inline as a rewriting filter.  Lengths never change,
 * so byte counts downstream stay right.
 *
 * A match may be split across records.  Each data record is held until
 * the next record of its direction arrives (or its direction ends, its
 * session closes, the input ends): the new record is searched together
 * with the last WINDOW bytes before it, and stars land in both.  Records
 * behind a held one wait too, so the stream keeps its order.  A match
 * that begins more than WINDOW bytes before the record it ends in is
 * not found whole (the documented limit), nor is the part of a match in
 * a record already written.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#ifndef REG_STARTEND
#error "tap-redact needs regexec(3) with REG_STARTEND (glibc, the BSDs)"
#endif

#define WINDOW_DEFAULT	4096
#define WINDOW_MAX	(16 * 1024 * 1024)
#define REC_MAX		(256ULL * 1024 * 1024)	/* one record in memory */
#define QUEUE_BYTES	(1024 * 1024)	/* held behind one record, at most */
#define QUEUE_RECS	1024
#define RAW_BUF		(64 * 1024)

struct pattern {
	regex_t		 re;
	const char	*fixed;		/* -F, else NULL */
	size_t		 flen;
};

struct patterns {
	struct pattern	*v;
	size_t		 n;
};

struct dirst;

struct rec {				/* a record waiting to be written */
	struct rec	*next;
	struct tap_rec	 h;
	unsigned char	*p;
	struct dirst	*d;		/* a data record not yet settled */
};

struct dirst {				/* one direction of one session */
	struct dirst	*next;
	char		 sid[SID_MAX + 1];
	char		 dir[4];
	unsigned char	*ctx;		/* the last bytes before pending */
	size_t		 ctxlen;
	unsigned char	*ptail;		/* pending's last bytes, unstarred */
	size_t		 ptaillen;
	uint64_t	 seen;		/* bytes before pending, in all */
	struct rec	*pending;	/* held for the next record */
};

struct redactor {
	const struct patterns *pats;
	size_t		 window;
	unsigned char	*s, *mask;	/* search buffer and its stars */
	size_t		 scap;
};

struct stream {
	struct redactor	*rd;
	struct rec	*head, *tail;
	size_t		 qbytes, qrecs;
	struct dirst	*dirs;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-r] [-e regex] [-F string] [-t ms] [-w bytes]\n",
	    getprogname());
	exit(status);
}

static void *
xmalloc(size_t n)
{
	void *p;

	if ((p = malloc(n == 0 ? 1 : n)) == NULL)
		err(EXIT_SYS, "malloc");
	return p;
}

/* The matching follows. */

static void
mark_regex(const regex_t *re, const unsigned char *s, size_t len, int bol,
    unsigned char *mask)
{
	regmatch_t m;
	size_t pos = 0;
	int flags;

	while (pos < len) {
		m.rm_so = (regoff_t)pos;
		m.rm_eo = (regoff_t)len;
		/*
		 * REG_STARTEND: the bounds are in m, NUL bytes are bytes.
		 * ^ fits only a direction's start (or after a newline);
		 * the end of the buffer is never the end of a line.
		 */
		flags = REG_STARTEND | REG_NOTEOL | (bol ? 0 : REG_NOTBOL);
		if (regexec(re, (const char *)s, 1, &m, flags) != 0)
			return;
		if (m.rm_eo > m.rm_so) {
			memset(mask + m.rm_so, 1, (size_t)(m.rm_eo - m.rm_so));
			pos = (size_t)m.rm_eo;
		} else
			pos = (size_t)m.rm_so + 1;
	}
}

static void
mark_fixed(const struct pattern *pt, const unsigned char *s, size_t len,
    unsigned char *mask)
{
	const unsigned char *p = s, *hit;

	/* Overlapping hits too: "aa" stars all of "aaa". */
	while ((size_t)(p - s) < len && (hit = memmem(p, len - (size_t)(p - s),
	    pt->fixed, pt->flen)) != NULL) {
		memset(mask + (hit - s), 1, pt->flen);
		p = hit + 1;
	}
}

/*
 * Mark in rd->mask every byte of rd->s[0..len) that a pattern matches.
 * rd->s holds the bytes as they came, never starred ones: stars would
 * hide the start of a match from the next search.  bol: rd->s starts a
 * direction.
 */
static void
redact(struct redactor *rd, size_t len, int bol)
{
	size_t i;

	memset(rd->mask, 0, len);
	for (i = 0; i < rd->pats->n; i++) {
		if (rd->pats->v[i].fixed != NULL)
			mark_fixed(&rd->pats->v[i], rd->s, len, rd->mask);
		else
			mark_regex(&rd->pats->v[i].re, rd->s, len, bol,
			    rd->mask);
	}
}

/* Star the bytes of p whose mask is set. */
static void
star(unsigned char *p, const unsigned char *mask, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (mask[i])
			p[i] = '*';
}

/* Room for len bytes (and the NUL regexec may look for) in rd->s. */
static void
reserve(struct redactor *rd, size_t len)
{
	if (len + 1 <= rd->scap)
		return;
	free(rd->s);
	free(rd->mask);
	rd->scap = len + 1;
	rd->s = xmalloc(rd->scap);
	rd->mask = xmalloc(rd->scap);
}

/* ctx = the last window bytes of ctx followed by p[0..n). */
static void
ctx_fold(unsigned char *ctx, size_t *ctxlen, size_t window,
    const unsigned char *p, size_t n)
{
	size_t keep;

	if (n >= window) {
		memcpy(ctx, p + n - window, window);
		*ctxlen = window;
		return;
	}
	keep = *ctxlen + n > window ? window - n : *ctxlen;
	memmove(ctx, ctx + *ctxlen - keep, keep);
	memcpy(ctx + keep, p, n);
	*ctxlen = keep + n;
}

/* The tap stream follows. */

static void
write_rec(const struct rec *r)
{
	if (tap_write(STDOUT_FILENO, r->h.kind, r->h.sid, r->h.us, r->h.dir,
	    r->p, (size_t)r->h.len) == -1)
		err(EXIT_SYS, "write");
}

/* The pending record of d may go: its bytes become context. */
static void
settle(struct stream *st, struct dirst *d)
{
	struct rec *r = d->pending;

	if (r == NULL)
		return;
	ctx_fold(d->ctx, &d->ctxlen, st->rd->window, d->ptail, d->ptaillen);
	d->seen += r->h.len;
	d->ptaillen = 0;
	d->pending = NULL;
	r->d = NULL;
}

/* Write the settled records at the head of the queue. */
static void
flush(struct stream *st)
{
	struct rec *r;

	while ((r = st->head) != NULL && r->d == NULL) {
		write_rec(r);
		if ((st->head = r->next) == NULL)
			st->tail = NULL;
		st->qbytes -= (size_t)r->h.len;
		st->qrecs--;
		free(r->p);
		free(r);
	}
}

static void
enqueue(struct stream *st, struct rec *r)
{
	r->next = NULL;
	if (st->tail != NULL)
		st->tail->next = r;
	else
		st->head = r;
	st->tail = r;
	st->qbytes += (size_t)r->h.len;
	st->qrecs++;
	/* A quiet direction must not hold the other one's traffic long. */
	while (st->head != NULL && st->head->d != NULL &&
	    (st->qbytes > QUEUE_BYTES || st->qrecs > QUEUE_RECS)) {
		settle(st, st->head->d);
		flush(st);
	}
	flush(st);
}

static struct dirst *
dir_get(struct stream *st, const char *sid, const char *dir)
{
	struct dirst *d;

	for (d = st->dirs; d != NULL; d = d->next)
		if (strcmp(d->sid, sid) == 0 && strcmp(d->dir, dir) == 0)
			return d;
	d = xmalloc(sizeof(*d));
	memset(d, 0, sizeof(*d));
	(void)strlcpy(d->sid, sid, sizeof(d->sid));
	(void)strlcpy(d->dir, dir, sizeof(d->dir));
	d->ctx = xmalloc(st->rd->window);
	d->ptail = xmalloc(st->rd->window);
	d->next = st->dirs;
	st->dirs = d;
	return d;
}

/* Settle and forget the directions of sid (all of them if NULL). */
static void
dirs_end(struct stream *st, const char *sid)
{
	struct dirst **dp = &st->dirs, *d;

	while ((d = *dp) != NULL) {
		if (sid != NULL && strcmp(d->sid, sid) != 0) {
			dp = &d->next;
			continue;
		}
		settle(st, d);
		*dp = d->next;
		free(d->ctx);
		free(d->ptail);
		free(d);
	}
}

/*
 * Search [context | tail of the pending record | r], as they came, and
 * star what matches in the last two; then the pending record is settled
 * and r takes its place.
 */
static void
redact_data(struct stream *st, struct dirst *d, struct rec *r)
{
	struct redactor *rd = st->rd;
	struct rec *p = d->pending;
	size_t plen = d->ptaillen, clen, len, rlen = (size_t)r->h.len;

	clen = d->ctxlen < rd->window - plen ? d->ctxlen : rd->window - plen;
	len = clen + plen + rlen;
	reserve(rd, len);
	memcpy(rd->s, d->ctx + d->ctxlen - clen, clen);
	memcpy(rd->s + clen, d->ptail, plen);
	memcpy(rd->s + clen + plen, r->p, rlen);
	rd->s[len] = '\0';
	/* Does the search start where the direction did? */
	redact(rd, len, d->seen + (p != NULL ? p->h.len : 0) == clen + plen);
	if (p != NULL)
		star(p->p + p->h.len - plen, rd->mask + clen, plen);
	star(r->p, rd->mask + clen + plen, rlen);
	settle(st, d);
	d->ptaillen = rlen < rd->window ? rlen : rd->window;
	memcpy(d->ptail, rd->s + len - d->ptaillen, d->ptaillen);
	d->pending = r;
	r->d = d;
}

static void __attribute__((noreturn))
stream_fail(struct stream *st, int status, const char *msg)
{
	/* Whole records read before the bad one are still good. */
	dirs_end(st, NULL);
	flush(st);
	errx(status, "%s", msg);
}

static void
stream_rec(struct stream *st, struct tap_reader *r, struct rec *rec)
{
	struct dirst *d;
	char msg[64];

	if (strcmp(rec->h.kind, "data") == 0) {
		if (strcmp(rec->h.dir, "-") == 0) {
			(void)snprintf(msg, sizeof(msg),
			    "record %llu: data record with DIR -",
			    (unsigned long long)r->recno);
			free(rec->p);
			free(rec);
			stream_fail(st, EXIT_DATA, msg);
		}
		redact_data(st, dir_get(st, rec->h.sid, rec->h.dir), rec);
	} else if (strcmp(rec->h.kind, "shut") == 0 ||
	    strcmp(rec->h.kind, "gap") == 0) {
		/* A shut ends the direction; past a gap bytes are missing. */
		if (strcmp(rec->h.dir, "-") != 0) {
			d = dir_get(st, rec->h.sid, rec->h.dir);
			settle(st, d);
			d->ctxlen = 0;
		}
	} else if (strcmp(rec->h.kind, "close") == 0)
		dirs_end(st, rec->h.sid);
	enqueue(st, rec);
}

static struct rec *
read_rec(struct stream *st, struct tap_reader *r, const struct tap_rec *h)
{
	struct rec *rec;
	char msg[96];
	size_t have = 0;
	ssize_t got;

	if (h->len > REC_MAX) {
		(void)snprintf(msg, sizeof(msg),
		    "record %llu: %llu bytes: more than %llu",
		    (unsigned long long)r->recno,
		    (unsigned long long)h->len, REC_MAX);
		stream_fail(st, EXIT_DATA, msg);
	}
	rec = xmalloc(sizeof(*rec));
	rec->h = *h;
	rec->d = NULL;
	rec->p = xmalloc((size_t)h->len);
	while (have < h->len) {
		if ((got = tap_payload(r, rec->p + have,
		    (size_t)h->len - have)) == -1) {
			free(rec->p);
			free(rec);
			stream_fail(st, errno == EBADMSG ? EXIT_DATA :
			    EXIT_SYS, r->err);
		}
		have += (size_t)got;
	}
	return rec;
}

static void
run_stream(struct redactor *rd)
{
	struct stream st;
	struct tap_reader r;
	struct tap_rec h;
	int rv;

	memset(&st, 0, sizeof(st));
	st.rd = rd;
	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		errx(EXIT_SYS, "%s", r.err);
	while ((rv = tap_next(&r, &h)) == 1)
		stream_rec(&st, &r, read_rec(&st, &r, &h));
	if (rv == -1)
		stream_fail(&st, errno == EBADMSG ? EXIT_DATA : EXIT_SYS,
		    r.err);
	dirs_end(&st, NULL);
	flush(&st);
	tap_reader_free(&r);
}

/* Raw bytes follow. */

struct raw {
	unsigned char	*ctx;		/* the last bytes written, unstarred */
	size_t		 ctxlen;
	unsigned char	*held;		/* read, not yet written, unstarred */
	unsigned char	*hmask;		/* ... and which of them to star */
	size_t		 heldlen;
	unsigned char	*out;		/* held, starred, on the way out */
	uint64_t	 written;
};

/* Write the first n held bytes, starred; they become context. */
static void
raw_emit(struct raw *w, size_t window, size_t n)
{
	if (n == 0)
		return;
	memcpy(w->out, w->held, n);
	star(w->out, w->hmask, n);
	if (write_all(STDOUT_FILENO, w->out, n) == -1)
		err(EXIT_SYS, "write");
	ctx_fold(w->ctx, &w->ctxlen, window, w->held, n);
	w->written += n;
	memmove(w->held, w->held + n, w->heldlen - n);
	memmove(w->hmask, w->hmask + n, w->heldlen - n);
	w->heldlen -= n;
}

/* Search [context | held]; stars found add up until written. */
static void
raw_redact(struct redactor *rd, struct raw *w)
{
	size_t len = w->ctxlen + w->heldlen, i;

	reserve(rd, len);
	memcpy(rd->s, w->ctx, w->ctxlen);
	memcpy(rd->s + w->ctxlen, w->held, w->heldlen);
	rd->s[len] = '\0';
	redact(rd, len, w->written == w->ctxlen);
	for (i = 0; i < w->heldlen; i++)
		w->hmask[i] |= rd->mask[w->ctxlen + i];
}

/* 1 if input arrives within ms, 0 if not. */
static int
raw_more(int ms)
{
	struct pollfd pfd;
	int n;

	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while ((n = poll(&pfd, 1, ms)) == -1 && errno == EINTR)
		;
	if (n == -1)
		err(EXIT_SYS, "poll");
	return n > 0;
}

/*
 * Hold back the last window bytes while more input comes within hold
 * ms, so a match split across reads is found whole; when the input
 * pauses, write everything: an inline filter must never sit on a
 * request its peer waits to answer.
 */
static void
run_raw(struct redactor *rd, int hold_ms)
{
	struct raw w;
	ssize_t got;

	memset(&w, 0, sizeof(w));
	w.ctx = xmalloc(rd->window);
	w.held = xmalloc(rd->window + RAW_BUF);
	w.hmask = xmalloc(rd->window + RAW_BUF);
	w.out = xmalloc(rd->window + RAW_BUF);
	for (;;) {
		if (w.heldlen > 0 && !raw_more(hold_ms)) {
			raw_emit(&w, rd->window, w.heldlen);
			continue;
		}
		got = read(STDIN_FILENO, w.held + w.heldlen, RAW_BUF);
		if (got == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYS, "read");
		}
		if (got == 0)
			break;
		memset(w.hmask + w.heldlen, 0, (size_t)got);
		w.heldlen += (size_t)got;
		raw_redact(rd, &w);
		if (w.heldlen > rd->window)
			raw_emit(&w, rd->window, w.heldlen - rd->window);
	}
	raw_emit(&w, rd->window, w.heldlen);
	free(w.ctx);
	free(w.held);
	free(w.hmask);
	free(w.out);
}

/* Options follow. */

static void
add_pattern(struct patterns *ps, const char *s, int fixed)
{
	struct pattern *pt;
	char msg[256];
	int rc;

	ps->v = reallocarray(ps->v, ps->n + 1, sizeof(*ps->v));
	if (ps->v == NULL)
		err(EXIT_SYS, "reallocarray");
	pt = &ps->v[ps->n];
	memset(pt, 0, sizeof(*pt));
	if (fixed) {
		if (*s == '\0') {
			warnx("-F: empty string");
			usage(EXIT_USAGE);
		}
		pt->fixed = s;
		pt->flen = strlen(s);
	} else if ((rc = regcomp(&pt->re, s, REG_EXTENDED | REG_NEWLINE)) !=
	    0) {
		(void)regerror(rc, &pt->re, msg, sizeof(msg));
		warnx("-e %s: %s", s, msg);
		usage(EXIT_USAGE);
	}
	ps->n++;
}

static long long
num_arg(const char *opt, const char *s, long long max)
{
	const char *errstr;
	long long v;

	v = strtonum(s, 0, max, &errstr);
	if (errstr != NULL) {
		warnx("%s %s: %s", opt, s, errstr);
		usage(EXIT_USAGE);
	}
	return v;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ NULL,		0,		NULL,	0 },
	};
	struct patterns ps = { NULL, 0 };
	struct redactor rd;
	int ch, raw = 0, hold_ms = 0;
	size_t i;

	memset(&rd, 0, sizeof(rd));
	rd.window = WINDOW_DEFAULT;
	while ((ch = getopt_long(argc, argv, "e:F:hrt:w:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'e':
		case 'F':
			add_pattern(&ps, optarg, ch == 'F');
			break;
		case 'h':
			usage(0);
		case 'r':
			raw = 1;
			break;
		case 't':
			hold_ms = (int)num_arg("-t", optarg, 60000);
			break;
		case 'w':
			rd.window = (size_t)num_arg("-w", optarg, WINDOW_MAX);
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (ps.n == 0) {
		warnx("nothing to redact: give -e or -F");
		usage(EXIT_USAGE);
	}
	rd.pats = &ps;
	if (raw)
		run_raw(&rd, hold_ms);
	else
		run_stream(&rd);
	for (i = 0; i < ps.n; i++)
		if (ps.v[i].fixed == NULL)
			regfree(&ps.v[i].re);
	free(ps.v);
	free(rd.s);
	free(rd.mask);
	return 0;
}
