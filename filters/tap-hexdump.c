/*
 * tap-hexdump: a tap stream as a person reads it.  Per record one
 * header line starting with '#' (so text2pcap skips it), then the
 * payload as hexdump -C lines with offsets from the record's start.
 * Each record goes out in one write(2), so sessions sharing a terminal
 * or file never interleave inside a record.  With -r, stdin is raw
 * bytes and the output is byte for byte that of hexdump -C.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define CHUNK		(64 * 1024)	/* input per round; a multiple of 16 */
#define LINE_ROOM	256	/* one dump line, colored, 16-digit offset */
#define REC_FLUSH	(16 * 1024 * 1024)	/* a record bigger than this is
						   written in several pieces */
#define KV_MAX		4096	/* open/close/gap payloads shown as text */
#define SESS_MAX	4096	/* sessions remembered for their open time */

#define C_C2S		"\033[32m"
#define C_S2C		"\033[36m"
#define C_NONPRINT	"\033[33m"
#define C_OFF		"\033[0m"

struct sess {
	char		 sid[SID_MAX + 1];	/* first: the table's key */
	uint64_t	 base;		/* UNIX_US of its open record */
};
TAP_SESSIONS_ELEM(struct sess);

struct view {
	int		 squeeze;
	int		 color;
	uint64_t	 max;		/* -n, else UINT64_MAX */
	struct tap_sessions sess;	/* of struct sess, SESS_MAX */
	struct out	 out;
	unsigned char	*chunk;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-sv] [-n bytes] [--color[=when]]\n"
	    "       %s -r [-sv]\n", getprogname(), getprogname());
	exit(status);
}

static void
out_flush(struct out *o)
{
	if (o->len > 0 && write_all(STDOUT_FILENO, o->buf, o->len) == -1)
		err(EXIT_SYS, "stdout");
	o->len = 0;
}

/*
 * read(2) until buf is full or EOF, so dump lines stay 16-aligned
 * across rounds.  Returns the bytes read.
 */
static size_t
read_full(int fd, unsigned char *buf, size_t n)
{
	size_t have = 0;
	ssize_t got;

	while (have < n) {
		if ((got = read(fd, buf + have, n - have)) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYS, "stdin");
		}
		if (got == 0)
			break;
		have += (size_t)got;
	}
	return have;
}

/* Squeeze state: hexdump compares each full row with the one before. */
struct rows {
	unsigned char	 prev[16];
	int		 have_prev;
	int		 starred;
};

/* Rewrite the text column of a line just formatted, non-printables colored. */
static void
color_text(struct out *o, const unsigned char *p, size_t n)
{
	size_t i;
	int on = 0;

	o->len -= n + 2;	/* back over "text|\n" */
	for (i = 0; i < n; i++) {
		int np = p[i] < 0x20 || p[i] > 0x7e;

		if (np != on)
			out_str(o, np ? C_NONPRINT : C_OFF);
		on = np;
		out_add(o, np ? "." : (const char *)p + i, 1);
	}
	if (on)
		out_str(o, C_OFF);
	out_add(o, "|\n", 2);
}

/* Dump lines for p[0..n) at offset off; only the last may be short. */
static void
dump_lines(struct out *o, struct rows *rw, uint64_t off,
    const unsigned char *p, size_t n, int squeeze, int color)
{
	size_t i, k;

	out_need(o, (n / 16 + 1) * LINE_ROOM);
	for (i = 0; i < n; i += 16) {
		k = n - i < 16 ? n - i : 16;
		if (squeeze && k == 16 && rw->have_prev &&
		    memcmp(rw->prev, p + i, 16) == 0) {
			if (!rw->starred)
				out_add(o, "*\n", 2);
			rw->starred = 1;
			continue;
		}
		rw->starred = 0;
		if (k == 16) {
			memcpy(rw->prev, p + i, 16);
			rw->have_prev = 1;
		}
		o->len += hex_line(o->buf + o->len, off + i, p + i, k);
		if (color)
			color_text(o, p + i, k);
	}
}

/* -r: stdin exactly as hexdump -C (squeeze) or hexdump -Cv shows it. */
static void
raw_dump(int squeeze)
{
	struct out o = { NULL, 0, 0 };
	struct rows rw;
	unsigned char *in;
	uint64_t off = 0;
	size_t n;
	char last[32];

	memset(&rw, 0, sizeof(rw));
	if ((in = malloc(CHUNK)) == NULL)
		err(EXIT_SYS, "malloc");
	do {
		n = read_full(STDIN_FILENO, in, CHUNK);
		dump_lines(&o, &rw, off, in, n, squeeze, 0);
		off += n;
		out_flush(&o);
	} while (n == CHUNK);
	/* The closing offset line; nothing at all for empty input. */
	if (off > 0) {
		(void)snprintf(last, sizeof(last), "%08" PRIx64 "\n", off);
		out_str(&o, last);
		out_flush(&o);
	}
	free(in);
	free(o.buf);
}

/* The open time of rec's session; remember it at open, forget at close. */
static uint64_t
sess_base(struct view *v, const struct tap_rec *rec)
{
	struct sess *s = tap_sessions_find(&v->sess, rec->sid);
	uint64_t base;

	if (s == NULL) {
		/* Seen first in mid-stream: it counts from this record. */
		if (strcmp(rec->kind, "close") == 0)
			return rec->us;
		/*
		 * At SESS_MAX the oldest is forgotten: bounded memory for
		 * streams whose sessions never close.
		 */
		s = tap_sessions_add(&v->sess, rec->sid);
		s->base = rec->us;
	} else if (strcmp(rec->kind, "open") == 0)
		s->base = rec->us;
	base = s->base;
	if (strcmp(rec->kind, "close") == 0)
		tap_sessions_forget(&v->sess, s);
	return base;
}

static void __attribute__((noreturn))
tap_fail(struct view *v, struct tap_reader *r)
{
	int code = errno == EBADMSG ? EXIT_DATA : EXIT_SYS;

	/* What was read of a broken record is shown before the error. */
	out_flush(&v->out);
	errx(code, "%s", r->err);
}

/* key=value lines as " key=value" words; odd bytes as \xNN. */
static void
kv_words(struct out *o, const unsigned char *p, size_t n)
{
	static const char hx[] = "0123456789abcdef";
	char esc[4] = { '\\', 'x', 0, 0 };
	int word = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			word = 0;
			continue;
		}
		if (!word)
			out_add(o, " ", 1);
		word = 1;
		if (p[i] > 0x20 && p[i] < 0x7f) {
			out_add(o, (const char *)p + i, 1);
			continue;
		}
		esc[2] = hx[p[i] >> 4];
		esc[3] = hx[p[i] & 0xf];
		out_add(o, esc, 4);
	}
}

/* Read all n (small) payload bytes into buf; -1 if the stream failed. */
static int
read_payload(struct tap_reader *r, unsigned char *buf, size_t n)
{
	size_t have = 0;
	ssize_t got;

	while (have < n) {
		if ((got = tap_payload(r, buf + have, n - have)) == -1)
			return -1;
		have += (size_t)got;
	}
	return 0;
}

/* The payload as dump lines, at most v->max bytes of it. */
static void
dump_payload(struct view *v, struct tap_reader *r, uint64_t len)
{
	uint64_t todo = len < v->max ? len : v->max, off = 0;
	struct rows rw;
	size_t want, have;
	ssize_t got;
	char note[64];

	memset(&rw, 0, sizeof(rw));
	while (off < todo) {
		want = todo - off < CHUNK ? (size_t)(todo - off) : CHUNK;
		for (have = 0; have < want; have += (size_t)got) {
			got = tap_payload(r, v->chunk + have, want - have);
			if (got == -1) {
				dump_lines(&v->out, &rw, off, v->chunk, have,
				    v->squeeze, v->color);
				tap_fail(v, r);
			}
		}
		dump_lines(&v->out, &rw, off, v->chunk, have, v->squeeze,
		    v->color);
		off += have;
		if (v->out.len >= REC_FLUSH)
			out_flush(&v->out);
	}
	if (todo < len) {
		if (tap_skip(r) == -1)
			tap_fail(v, r);
		(void)snprintf(note, sizeof(note), "# %" PRIu64
		    " bytes left out\n", len - todo);
		out_str(&v->out, note);
	}
}

static void
show_record(struct view *v, struct tap_reader *r, const struct tap_rec *rec)
{
	unsigned char kv[KV_MAX];
	char line[128];
	uint64_t base = sess_base(v, rec), dt;
	const char *col = NULL;
	int kvkind, kvfail = 0;

	dt = rec->us >= base ? rec->us - base : base - rec->us;
	if (v->color && strcmp(rec->dir, "c2s") == 0)
		col = C_C2S;
	else if (v->color && strcmp(rec->dir, "s2c") == 0)
		col = C_S2C;
	kvkind = (strcmp(rec->kind, "open") == 0 ||
	    strcmp(rec->kind, "close") == 0 ||
	    strcmp(rec->kind, "gap") == 0) && rec->len <= KV_MAX;
	if (kvkind && read_payload(r, kv, (size_t)rec->len) == -1)
		kvfail = errno;
	if (col != NULL)
		out_str(&v->out, col);
	(void)snprintf(line, sizeof(line), "# %s %c%" PRIu64 ".%06" PRIu64
	    " %s %s %" PRIu64, rec->sid, rec->us >= base ? '+' : '-',
	    dt / 1000000, dt % 1000000, rec->kind, rec->dir, rec->len);
	out_str(&v->out, line);
	if (kvkind && !kvfail)
		kv_words(&v->out, kv, (size_t)rec->len);
	else if (strcmp(rec->kind, "shut") == 0)
		out_str(&v->out, strcmp(rec->dir, "c2s") == 0 ?
		    " client half-closed" : strcmp(rec->dir, "s2c") == 0 ?
		    " server half-closed" : "");
	if (col != NULL)
		out_str(&v->out, C_OFF);
	out_add(&v->out, "\n", 1);
	if (kvfail) {
		errno = kvfail;
		tap_fail(v, r);
	}
	/* Data, kinds we do not know, and a shut that has a payload. */
	if (!kvkind)
		dump_payload(v, r, rec->len);
	out_flush(&v->out);
}

static void
tap_dump(struct view *v)
{
	struct tap_reader r;
	struct tap_rec rec;
	int rv;

	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		errx(EXIT_SYS, "%s", r.err);
	if ((v->chunk = malloc(CHUNK)) == NULL)
		err(EXIT_SYS, "malloc");
	while ((rv = tap_next(&r, &rec)) == 1)
		show_record(v, &r, &rec);
	if (rv == -1)
		tap_fail(v, &r);
	tap_reader_free(&r);
	free(v->chunk);
	free(v->out.buf);
	tap_sessions_free(&v->sess);
}

/* --color[=auto|always|never]; auto: a terminal, and no NO_COLOR. */
static int
want_color(const char *when)
{
	const char *nc;

	if (when == NULL || strcmp(when, "always") == 0)
		return 1;
	if (strcmp(when, "never") == 0)
		return 0;
	if (strcmp(when, "auto") != 0) {
		warnx("--color: %s: not auto, always or never", when);
		usage(EXIT_USAGE);
	}
	nc = getenv("NO_COLOR");
	return (nc == NULL || *nc == '\0') && isatty(STDOUT_FILENO);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "color",	optional_argument,	NULL,	'C' },
		{ "help",	no_argument,		NULL,	'h' },
		{ "raw",	no_argument,		NULL,	'r' },
		{ "squeeze",	no_argument,		NULL,	's' },
		{ "no-squeeze",	no_argument,		NULL,	'v' },
		{ NULL,		0,			NULL,	0 }
	};
	struct view v;
	const char *errstr, *when = "auto";
	int ch, raw = 0, squeeze = -1, nflag = 0, cflag = 0;

	memset(&v, 0, sizeof(v));
	v.max = UINT64_MAX;
	while ((ch = getopt_long(argc, argv, "hn:rsv", longopts, NULL)) != -1) {
		if (ch == 'h')
			usage(0);
		switch (ch) {
		case 'C':
			when = optarg;
			cflag = 1;
			break;
		case 'n':
			v.max = (uint64_t)strtonum(optarg, 0, LLONG_MAX,
			    &errstr);
			if (errstr != NULL) {
				warnx("-n %s: %s", optarg, errstr);
				usage(EXIT_USAGE);
			}
			nflag = 1;
			break;
		case 'r':
			raw = 1;
			break;
		case 's':
			squeeze = 1;
			break;
		case 'v':
			squeeze = 0;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (raw && (nflag || cflag)) {
		warnx("-r takes no -n or --color: it is exactly hexdump -C");
		usage(EXIT_USAGE);
	}
	if (raw) {
		/* hexdump squeezes unless told -v. */
		raw_dump(squeeze != 0);
		return 0;
	}
	/* Per record, no squeeze unless asked: text2pcap loses '*' rows. */
	v.squeeze = squeeze == 1;
	v.color = want_color(when);
	tap_sessions_init(&v.sess, sizeof(struct sess), SESS_MAX, NULL);
	tap_dump(&v);
	return 0;
}
