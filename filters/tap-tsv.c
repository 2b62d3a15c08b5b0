/*
 * tap-tsv: a tap stream as a "ts_proxy recording v1" TSV file, and back.
 *
 * By default one session of the tap stream on stdin (-s SID, else the
 * session of the first record) becomes
 *
 *	# ts_proxy recording v1
 *	<elapsed_us>\t<c2s|s2c>\t<lowercase hex payload>
 *
 * one line per data record, elapsed since the session's open record,
 * until that session's close.  With -d a TSV recording (stdin or FILE)
 * becomes a tap stream: open, one data record per line, shut both ways
 * and close, at UNIX_US --base-us (default 0) plus the elapsed time, so
 * `tap-tsv -d s.tsv | tap-tsv` gives s.tsv back byte for byte (apart
 * from comments and blank lines) and any filter can read a recording.
 * Both ways go through the shared readers and writers: tapstream.c for
 * the tap stream, tsv.c for the TSV.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define GAP_KV_MAX	256	/* a gap payload read to tell its size */

struct opts {
	const char	*sid;		/* -s */
	uint64_t	 max;		/* -m */
	int		 flush;		/* -f */
	uint64_t	 base;		/* --base-us */
	const char	*client;	/* --client */
	const char	*server;	/* --server */
	const char	*listen;	/* --listen, else --server */
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-f] [-m max] [-s sid]\n"
	    "       %s -d [-m max] [-s sid] [--base-us us] [--client addr]\n"
	    "               [--server addr] [--listen addr] [file]\n",
	    getprogname(), getprogname());
	exit(status);
}

/* Bad input: keep every byte written so far, then exit 1. */
static void __attribute__((noreturn, format(printf, 1, 2)))
die_data(const char *fmt, ...)
{
	va_list ap;

	(void)fflush(stdout);
	va_start(ap, fmt);
	verrx(EXIT_DATA, fmt, ap);
}

static void __attribute__((noreturn))
tap_fail(const struct tap_reader *r)
{
	if (errno == EBADMSG)
		die_data("%s", r->err);
	errx(EXIT_SYS, "%s", r->err);
}

/* An address for the open record: one printable token. */
static const char *
valid_addr(const char *opt, const char *s)
{
	const char *p;

	if (*s == '\0' || strlen(s) >= ADDR_STRLEN) {
		warnx("%s %s: empty or too long", opt, s);
		usage(EXIT_USAGE);
	}
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			warnx("%s: blank or control character in the address",
			    opt);
			usage(EXIT_USAGE);
		}
	return s;
}

static void
out_check(void)
{
	if (fflush(stdout) == EOF || ferror(stdout))
		err(EXIT_SYS, "stdout");
}

/* The whole payload of the current record into *buf (grown). */
static void
read_payload(struct tap_reader *r, unsigned char **buf, size_t *cap,
    size_t len)
{
	unsigned char *p;
	size_t have = 0;
	ssize_t got;

	if (len > *cap) {
		if ((p = realloc(*buf, len)) == NULL)
			err(EXIT_SYS, "realloc");
		*buf = p;
		*cap = len;
	}
	while (have < len) {
		if ((got = tap_payload(r, *buf + have, len - have)) == -1)
			tap_fail(r);
		have += (size_t)got;
	}
}

/* Say what a gap cost the recording. */
static void
gap_warn(struct tap_reader *r, const struct tap_rec *rec,
    unsigned char **buf, size_t *cap)
{
	char bytes[32];

	if (rec->len <= GAP_KV_MAX) {
		read_payload(r, buf, cap, (size_t)rec->len);
		if (tap_kv((const char *)*buf, (size_t)rec->len, "bytes",
		    bytes, sizeof(bytes))) {
			warnx("record %llu: gap of %s bytes in %s: the "
			    "recording lacks them", (unsigned long long)r->recno,
			    bytes, rec->dir);
			return;
		}
	}
	warnx("record %llu: gap in %s: the recording lacks bytes",
	    (unsigned long long)r->recno, rec->dir);
}

/* Tap stream on stdin -> TSV on stdout.  Returns the exit status. */
static int
record(const struct opts *o)
{
	struct tap_reader r;
	struct tap_rec rec;
	char sid[SID_MAX + 1];
	unsigned char *buf = NULL;
	size_t cap = 0;
	uint64_t base = 0, last = 0, el;
	int rv, have_sid = 0, seen = 0, gaps = 0;

	if (o->sid != NULL) {
		(void)strlcpy(sid, o->sid, sizeof(sid));
		have_sid = 1;
	}
	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		errx(EXIT_SYS, "%s", r.err);
	if (tsv_write_magic(stdout) == -1)
		err(EXIT_SYS, "stdout");
	if (o->flush)
		out_check();
	while ((rv = tap_next(&r, &rec)) == 1) {
		if (!have_sid) {
			(void)strlcpy(sid, rec.sid, sizeof(sid));
			have_sid = 1;
		} else if (strcmp(rec.sid, sid) != 0)
			continue;
		if (!seen) {
			/* Its open, or the first record a late tap saw. */
			base = rec.us;
			seen = 1;
		}
		if (strcmp(rec.kind, "close") == 0)
			break;
		if (strcmp(rec.kind, "gap") == 0) {
			gap_warn(&r, &rec, &buf, &cap);
			gaps++;
			continue;
		}
		/* open, shut and unknown kinds have no line in v1. */
		if (strcmp(rec.kind, "data") != 0)
			continue;
		if (strcmp(rec.dir, "-") == 0)
			die_data("record %llu: data record with DIR -",
			    (unsigned long long)r.recno);
		if (rec.us < base || rec.us - base < last)
			die_data("record %llu: time goes back",
			    (unsigned long long)r.recno);
		el = rec.us - base;
		if (rec.len > o->max)
			die_data("record %llu: data record of %llu bytes over "
			    "the maximum %llu (-m)", (unsigned long long)r.recno,
			    (unsigned long long)rec.len,
			    (unsigned long long)o->max);
		read_payload(&r, &buf, &cap, (size_t)rec.len);
		if (tsv_write(stdout, el, rec.dir, buf, (size_t)rec.len) == -1)
			err(EXIT_SYS, "stdout");
		if (o->flush)
			out_check();
		last = el;
	}
	if (rv == -1)
		tap_fail(&r);
	out_check();
	free(buf);
	tap_reader_free(&r);
	if (o->sid != NULL && !seen) {
		warnx("stdin: no record of session %s", o->sid);
		return EXIT_DATA;
	}
	return gaps > 0 ? EXIT_DATA : 0;
}

/* One record to stdout; a record that fits no header is bad input. */
static void
emit(const struct tsv_reader *r, const char *kind, const char *sid,
    uint64_t us, const char *dir, const void *p, size_t len)
{
	if (tap_write(STDOUT_FILENO, kind, sid, us, dir, p, len) == 0)
		return;
	if (errno == EINVAL)
		die_data("%s:%llu: %s record does not fit a tap header",
		    r->name, (unsigned long long)r->line, kind);
	err(EXIT_SYS, "stdout");
}

/* TSV on in -> tap stream on stdout.  Returns the exit status. */
static int
decode(const struct opts *o, FILE *in, const char *name)
{
	struct tsv_reader r;
	struct tsv_line l;
	const char *sid = o->sid != NULL ? o->sid : "tsv";
	char *kv;
	uint64_t c2s = 0, s2c = 0, last = 0;
	int n, rv;

	if (tsv_reader_init(&r, in, name, o->max) == -1)
		errx(EXIT_SYS, "%s", r.err);
	n = asprintf(&kv, "client=%s\nserver=%s\nlisten=%s\n", o->client,
	    o->server, o->listen != NULL ? o->listen : o->server);
	if (n == -1)
		err(EXIT_SYS, "asprintf");
	emit(&r, "open", sid, o->base, "-", kv, (size_t)n);
	free(kv);
	while ((rv = tsv_next(&r, &l)) == 1) {
		if (l.us > UINT64_MAX - o->base)
			die_data("%s:%llu: time out of range with --base-us",
			    r.name, (unsigned long long)r.line);
		emit(&r, "data", sid, o->base + l.us, l.dir, l.p, l.len);
		if (l.dir[0] == 'c')
			c2s += l.len;
		else
			s2c += l.len;
		last = l.us;
	}
	if (rv == -1) {
		if (errno == EBADMSG)
			die_data("%s", r.err);
		errx(EXIT_SYS, "%s", r.err);
	}
	emit(&r, "shut", sid, o->base + last, "c2s", NULL, 0);
	emit(&r, "shut", sid, o->base + last, "s2c", NULL, 0);
	n = asprintf(&kv, "reason=eof\nby=client\nc2s_bytes=%llu\n"
	    "s2c_bytes=%llu\nduration_us=%llu\n", (unsigned long long)c2s,
	    (unsigned long long)s2c, (unsigned long long)last);
	if (n == -1)
		err(EXIT_SYS, "asprintf");
	emit(&r, "close", sid, o->base + last, "-", kv, (size_t)n);
	free(kv);
	tsv_reader_free(&r);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "base-us",	required_argument,	NULL,	'B' },
		{ "client",	required_argument,	NULL,	'C' },
		{ "decode",	no_argument,		NULL,	'd' },
		{ "flush",	no_argument,		NULL,	'f' },
		{ "help",	no_argument,		NULL,	'h' },
		{ "listen",	required_argument,	NULL,	'L' },
		{ "server",	required_argument,	NULL,	'S' },
		{ "sid",	required_argument,	NULL,	's' },
		{ NULL,		0,			NULL,	0 }
	};
	struct opts o = {
		.max = FRAME_MAX_DEFAULT,
		.client = "127.0.0.1:1",
		.server = "127.0.0.1:2",
	};
	const char *errstr, *name = "stdin";
	FILE *in = stdin;
	int ch, dflag = 0, ndflag = 0, rv;

	while ((ch = getopt_long(argc, argv, "dfhm:s:", longopts, NULL)) != -1) {
		if (ch == 'h')
			usage(0);
		switch (ch) {
		case 'B':
			o.base = (uint64_t)strtonum(optarg, 0, LLONG_MAX,
			    &errstr);
			if (errstr != NULL) {
				warnx("--base-us %s: %s", optarg, errstr);
				usage(EXIT_USAGE);
			}
			ndflag = 1;
			break;
		case 'C':
			o.client = valid_addr("--client", optarg);
			ndflag = 1;
			break;
		case 'd':
			dflag = 1;
			break;
		case 'f':
			o.flush = 1;
			break;
		case 'L':
			o.listen = valid_addr("--listen", optarg);
			ndflag = 1;
			break;
		case 'm':
			o.max = (uint64_t)strtonum(optarg, 1,
			    (long long)FRAME_MAX_LIMIT, &errstr);
			if (errstr != NULL) {
				warnx("-m %s: %s", optarg, errstr);
				usage(EXIT_USAGE);
			}
			break;
		case 'S':
			o.server = valid_addr("--server", optarg);
			ndflag = 1;
			break;
		case 's':
			if (!tap_sid_valid(optarg)) {
				warnx("-s %s: not a session id", optarg);
				usage(EXIT_USAGE);
			}
			o.sid = optarg;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (!dflag) {
		if (ndflag) {
			warnx("--base-us, --client, --server and --listen "
			    "need -d");
			usage(EXIT_USAGE);
		}
		if (optind != argc) {
			warnx("%s: no operands: the input is stdin",
			    argv[optind]);
			usage(EXIT_USAGE);
		}
		return record(&o);
	}
	if (o.flush) {
		warnx("-f: -d writes each record at once");
		usage(EXIT_USAGE);
	}
	if (argc - optind > 1) {
		warnx("%s: one file at most", argv[optind + 1]);
		usage(EXIT_USAGE);
	}
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		name = argv[optind];
		if ((in = fopen(name, "r")) == NULL)
			err(EXIT_SYS, "%s", name);
	}
	rv = decode(&o, in, name);
	if (in != stdin)
		(void)fclose(in);
	return rv;
}
