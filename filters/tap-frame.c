/*
 * tap-frame: reassemble length-prefixed frames.  A tap stream in, a tap
 * stream out with one data record per complete frame per direction of
 * each session, stamped with the time of the record that brought the
 * frame's last byte.  Records of other kinds pass through unchanged and
 * in order; a gap record also resets its direction's framer.
 *
 * A frame announcing more than the maximum is reported once; that
 * direction is framed no more (its later bytes are dropped, never
 * misread as frames), the output stays a valid tap stream, and the exit
 * status is 1.  A direction that ends (shut, close, end of input) in
 * the middle of a frame is reported on stderr and the partial frame is
 * not emitted; that alone does not change the exit status, since the
 * wire really carried those bytes.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define CHUNK		(1024 * 1024)	/* payload read per round */
#define PASS_WHOLE	(16 * 1024 * 1024)	/* bigger records pass in pieces */

struct sess {
	char		 sid[SID_MAX + 1];	/* first: the table's key */
	struct framer	 fr[2];		/* c2s, s2c */
};
TAP_SESSIONS_ELEM(struct sess);

struct ctx {
	struct frame_spec	 spec;
	struct tap_sessions	 sess;	/* of struct sess */
	const struct tap_rec	*rec;	/* being fed: for emit */
	int			 status;
	unsigned char		*chunk;
};

static const char *dirname[2] = { "c2s", "s2c" };

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-H bytes] [-m max] [--length-offset n] "
	    "[--little-endian]\n"
	    "                 [--length-includes-header | --adjust n] "
	    "[--keep-header]\n"
	    "                 [--skip n]\n", getprogname());
	exit(status);
}

static void __attribute__((noreturn))
tap_fail(const struct tap_reader *r)
{
	errx(errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s", r->err);
}

static void
out(const struct tap_rec *rec, const char *kind, const void *p, size_t n)
{
	if (tap_write(STDOUT_FILENO, kind, rec->sid, rec->us, rec->dir, p,
	    n) == -1)
		err(EXIT_SYS, "stdout");
}

static struct sess *
sess_find(struct ctx *c, const char *sid, int create)
{
	struct sess *s;

	if ((s = tap_sessions_find(&c->sess, sid)) != NULL || !create)
		return s;
	s = tap_sessions_add(&c->sess, sid);
	framer_init(&s->fr[0], &c->spec);
	framer_init(&s->fr[1], &c->spec);
	return s;
}

/* A direction ended: say so if a frame was cut short, then forget it. */
static void
sess_end(struct sess *s, int d, const char *when)
{
	size_t n = framer_pending(&s->fr[d]);

	if (n > 0)
		warnx("session %s %s: %zu bytes of an incomplete frame at %s",
		    s->sid, dirname[d], n, when);
	framer_reset(&s->fr[d]);
}

static void
sess_close(struct ctx *c, struct sess *s, const char *when)
{
	sess_end(s, 0, when);
	sess_end(s, 1, when);
	framer_free(&s->fr[0]);
	framer_free(&s->fr[1]);
	/* The table moves elements; the framers point at c->spec only. */
	tap_sessions_forget(&c->sess, s);
}

static int
emit(void *arg, const unsigned char *p, size_t n, int unframed)
{
	struct ctx *c = arg;

	(void)unframed;
	out(c->rec, "data", p, n);
	return 0;
}

static int
dir_index(const struct tap_reader *r, const struct tap_rec *rec)
{
	if (strcmp(rec->dir, "c2s") == 0)
		return 0;
	if (strcmp(rec->dir, "s2c") == 0)
		return 1;
	errx(EXIT_DATA, "record %llu: %s record with DIR -",
	    (unsigned long long)r->recno, rec->kind);
}

/* A data record: its payload through the direction's framer. */
static void
frame_data(struct ctx *c, struct tap_reader *r, const struct tap_rec *rec)
{
	struct sess *s = sess_find(c, rec->sid, 1);
	int d = dir_index(r, rec);
	struct framer *fr = &s->fr[d];
	char why[160];
	ssize_t got;

	c->rec = rec;
	while (r->left > 0) {
		if ((got = tap_payload(r, c->chunk, CHUNK)) == -1)
			tap_fail(r);
		switch (framer_feed(fr, c->chunk, (size_t)got, emit, c)) {
		case 0:
			break;
		case -1:
			frame_explain(&c->spec, fr->hdr, why, sizeof(why));
			warnx("session %s %s: %s", s->sid, dirname[d], why);
			c->status = EXIT_DATA;
			break;
		default:
			err(EXIT_SYS, "framer");
		}
	}
}

/* Any other record, unchanged. */
static void
pass(struct ctx *c, struct tap_reader *r, const struct tap_rec *rec)
{
	char hdr[TAP_HDR];
	unsigned char *p;
	ssize_t got;
	size_t have = 0;

	if (rec->len <= PASS_WHOLE) {
		if ((p = malloc(rec->len ? rec->len : 1)) == NULL)
			err(EXIT_SYS, "malloc");
		while (have < rec->len) {
			if ((got = tap_payload(r, p + have,
			    rec->len - have)) == -1)
				tap_fail(r);
			have += (size_t)got;
		}
		out(rec, rec->kind, p, have);
		free(p);
		return;
	}
	/* Too big to hold: the header, then the payload as it comes. */
	if (tap_header(hdr, rec->kind, rec->sid, rec->us, rec->dir,
	    rec->len) == -1)
		errx(EXIT_DATA, "record %llu: cannot pass on",
		    (unsigned long long)r->recno);
	if (write_all(STDOUT_FILENO, hdr, sizeof(hdr)) == -1)
		err(EXIT_SYS, "stdout");
	while (r->left > 0) {
		if ((got = tap_payload(r, c->chunk, CHUNK)) == -1)
			tap_fail(r);
		if (write_all(STDOUT_FILENO, c->chunk, (size_t)got) == -1)
			err(EXIT_SYS, "stdout");
	}
}

static void
frame_stream(struct ctx *c)
{
	struct tap_reader r;
	struct tap_rec rec;
	struct sess *s;
	int rv, d;

	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		errx(EXIT_SYS, "%s", r.err);
	while ((rv = tap_next(&r, &rec)) == 1) {
		if (strcmp(rec.kind, "data") == 0) {
			frame_data(c, &r, &rec);
			continue;
		}
		s = sess_find(c, rec.sid, 0);
		if (strcmp(rec.kind, "open") == 0) {
			/* A new connection under a known SID: start over. */
			if (s != NULL)
				sess_close(c, s, "open");
			(void)sess_find(c, rec.sid, 1);
		} else if (strcmp(rec.kind, "gap") == 0) {
			d = dir_index(&r, &rec);
			if (s != NULL)
				framer_reset(&s->fr[d]);
		} else if (strcmp(rec.kind, "shut") == 0) {
			d = dir_index(&r, &rec);
			if (s != NULL)
				sess_end(s, d, "shut");
		} else if (strcmp(rec.kind, "close") == 0 && s != NULL)
			sess_close(c, s, "close");
		pass(c, &r, &rec);
	}
	if (rv == -1)
		tap_fail(&r);
	while ((s = tap_sessions_last(&c->sess)) != NULL)
		sess_close(c, s, "end of input");
	tap_reader_free(&r);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		FRAME_LONGOPTS,
		{ "help",	no_argument,	NULL,	'h' },
		{ NULL,		0,		NULL,	0 },
	};
	struct ctx c;
	char why[128];
	int ch;

	memset(&c, 0, sizeof(c));
	frame_spec_init(&c.spec);
	tap_sessions_init(&c.sess, sizeof(struct sess), 0, NULL);
	while ((ch = getopt_long(argc, argv, FRAME_SHORTOPTS "h", longopts,
	    NULL)) != -1) {
		if (ch == 'h')
			usage(0);
		switch (frame_option(&c.spec, ch, optarg, why, sizeof(why))) {
		case 1:
			break;
		case -1:
			warnx("%s", why);
			usage(EXIT_USAGE);
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (c.spec.hdr_len == 0) {
		warnx("-H 0: too small, a frame needs a length field");
		usage(EXIT_USAGE);
	}
	if (frame_spec_check(&c.spec, why, sizeof(why)) == -1) {
		warnx("%s", why);
		usage(EXIT_USAGE);
	}
	if ((c.chunk = malloc(CHUNK)) == NULL)
		err(EXIT_SYS, "malloc");
	frame_stream(&c);
	free(c.chunk);
	tap_sessions_free(&c.sess);
	return c.status;
}
