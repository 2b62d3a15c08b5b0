/*
 * tap-cat: the raw bytes of a tap stream's data records, byte-exact:
 * both directions in stream order to stdout, one direction (-d), or
 * each direction to its own file (-o PREFIX).  Tests compare its output
 * with what crossed the wire, so it never guesses: a stream it cannot
 * parse ends it with exit 1.  Headers are read with no read-ahead so
 * the payload can go from stdin to the output by splice(2), unless the
 * pair of files cannot splice; then it is read and written.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define SPLICE_MAX	(1024 * 1024)
#define COPY_BUF	(64 * 1024)

struct sink {
	int		 fd;		/* -1: this direction is not wanted */
	char		*name;		/* for messages */
	int		 nosplice;	/* splice said EINVAL once */
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr, "usage: %s [-d c2s|s2c] [-o prefix] [-s sid]\n",
	    getprogname());
	exit(status);
}

static void __attribute__((noreturn))
tap_fail(const struct tap_reader *r)
{
	errx(errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s", r->err);
}

static void
sink_open(struct sink *s, const char *prefix, const char *dir)
{
	if (asprintf(&s->name, "%s.%s", prefix, dir) == -1)
		err(EXIT_SYS, "asprintf");
	s->fd = open(s->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (s->fd == -1)
		err(EXIT_SYS, "%s", s->name);
}

/* This record's whole payload to s: splice while it works, else copy. */
static void
copy_payload(struct tap_reader *r, struct sink *s, char *buf)
{
	ssize_t got;

	while (r->left > 0) {
		if (!s->nosplice) {
			if (tap_splice(r, s->fd, SPLICE_MAX) != -1)
				continue;
			if (errno != EINVAL)
				tap_fail(r);
			/* Neither end a pipe, O_APPEND, a tty: copy. */
			s->nosplice = 1;
		}
		if ((got = tap_payload(r, buf, COPY_BUF)) == -1)
			tap_fail(r);
		if (write_all(s->fd, buf, (size_t)got) == -1)
			err(EXIT_SYS, "%s", s->name);
	}
}

static void
cat_stream(struct sink *c2s, struct sink *s2c, const char *sid)
{
	struct tap_reader r;
	struct tap_rec rec;
	struct sink *s;
	char *buf;
	int rv;

	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 1) == -1)
		errx(EXIT_SYS, "%s", r.err);
	if ((buf = malloc(COPY_BUF)) == NULL)
		err(EXIT_SYS, "malloc");
	while ((rv = tap_next(&r, &rec)) == 1) {
		if (sid != NULL && strcmp(rec.sid, sid) != 0)
			continue;
		if (strcmp(rec.kind, "gap") == 0)
			/* The output lacks these bytes: say so. */
			warnx("record %llu: gap in %s (session %s)",
			    (unsigned long long)r.recno, rec.dir, rec.sid);
		/* Other kinds carry no wire bytes; tap_next skips them. */
		if (strcmp(rec.kind, "data") != 0)
			continue;
		if (strcmp(rec.dir, "c2s") == 0)
			s = c2s;
		else if (strcmp(rec.dir, "s2c") == 0)
			s = s2c;
		else
			errx(EXIT_DATA, "record %llu: data record with DIR -",
			    (unsigned long long)r.recno);
		if (s->fd != -1)
			copy_payload(&r, s, buf);
	}
	if (rv == -1)
		tap_fail(&r);
	free(buf);
	tap_reader_free(&r);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,	NULL,	'h' },
		{ NULL,		0,		NULL,	0 },
	};
	struct sink c2s = { STDOUT_FILENO, "stdout", 0 };
	struct sink s2c = { STDOUT_FILENO, "stdout", 0 };
	const char *dir = NULL, *prefix = NULL, *sid = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "d:ho:s:", longopts, NULL)) !=
	    -1) {
		if (ch == 'h')
			usage(0);
		switch (ch) {
		case 'd':
			if (strcmp(optarg, "c2s") != 0 &&
			    strcmp(optarg, "s2c") != 0) {
				warnx("-d %s: not c2s or s2c", optarg);
				usage(EXIT_USAGE);
			}
			dir = optarg;
			break;
		case 'o':
			if (*optarg == '\0') {
				warnx("-o: empty prefix");
				usage(EXIT_USAGE);
			}
			prefix = optarg;
			break;
		case 's':
			if (!tap_sid_valid(optarg)) {
				warnx("-s %s: not a session id", optarg);
				usage(EXIT_USAGE);
			}
			sid = optarg;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (prefix != NULL) {
		if (dir == NULL || strcmp(dir, "c2s") == 0)
			sink_open(&c2s, prefix, "c2s");
		if (dir == NULL || strcmp(dir, "s2c") == 0)
			sink_open(&s2c, prefix, "s2c");
	}
	if (dir != NULL && strcmp(dir, "c2s") == 0)
		s2c.fd = -1;
	if (dir != NULL && strcmp(dir, "s2c") == 0)
		c2s.fd = -1;
	cat_stream(&c2s, &s2c, sid);
	if (prefix != NULL) {
		/* close(2) can report a write error of a file system. */
		if (c2s.fd != -1 && close(c2s.fd) == -1)
			err(EXIT_SYS, "%s", c2s.name);
		if (s2c.fd != -1 && close(s2c.fd) == -1)
			err(EXIT_SYS, "%s", s2c.name);
		if (c2s.fd != -1)
			free(c2s.name);
		if (s2c.fd != -1)
			free(s2c.name);
	}
	return 0;
}
