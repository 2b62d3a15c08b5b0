/*
 * fault-cut: pass the first N bytes of stdin to stdout, then cut the
 * stream: close it (EOF downstream), ask for a reset (exit FAULT_RESET,
 * the inline-filter convention tcptap turns into a connection reset),
 * or go silent (forward nothing more, but keep reading so the sender is
 * not pushed back, until its EOF).  N may be a range LO-HI drawn with
 * the seed.
 */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define CUT_BUF	(64 * 1024)

enum { OPT_SEED = 1000 };
enum mode { CUT_CLOSE, CUT_RESET, CUT_SILENT };
static const char *const mode_names[] = { "close", "reset", "silent" };

struct cut {
	enum mode	 mode;
	uint64_t	 lo, hi;	/* -n LO-HI, or N-N */
	uint64_t	 seed;
	int		 seeded;	/* --seed given */
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-m close|reset|silent] [--seed n] -n bytes\n",
	    getprogname());
	exit(status);
}

/* "N" or "LO-HI", each a size ("1k"). */
static const char *
parse_count(char *s, uint64_t *lo, uint64_t *hi)
{
	const char *errstr;
	char *dash;

	if ((dash = strchr(s, '-')) != NULL)
		*dash = '\0';
	if ((errstr = fault_parse_size(s, lo)) != NULL)
		return errstr;
	*hi = *lo;
	if (dash != NULL && (errstr = fault_parse_size(dash + 1, hi)) != NULL)
		return errstr;
	return *hi < *lo ? "range ends before it starts" : NULL;
}

static void
parse_args(int argc, char *argv[], struct cut *c)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "seed",	required_argument,	NULL,	OPT_SEED },
		{ NULL,		0,			NULL,	0 },
	};
	const char *errstr;
	int ch, have_n = 0;
	size_t i;

	while ((ch = getopt_long(argc, argv, "hm:n:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'm':
			for (i = 0; i < 3; i++)
				if (strcmp(optarg, mode_names[i]) == 0)
					break;
			if (i == 3) {
				warnx("-m %s: not close, reset or silent",
				    optarg);
				usage(EXIT_USAGE);
			}
			c->mode = (enum mode)i;
			break;
		case 'n':
			if ((errstr = parse_count(optarg, &c->lo, &c->hi)) !=
			    NULL) {
				warnx("-n: %s", errstr);
				usage(EXIT_USAGE);
			}
			have_n = 1;
			break;
		case OPT_SEED:
			if ((errstr = fault_parse_seed(optarg, &c->seed)) !=
			    NULL) {
				warnx("--seed %s: %s", optarg, errstr);
				usage(EXIT_USAGE);
			}
			c->seeded = 1;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (!have_n) {
		warnx("-n: how many bytes to pass is required");
		usage(EXIT_USAGE);
	}
}

static ssize_t
read_some(void *buf, size_t n)
{
	ssize_t got;

	while ((got = read(STDIN_FILENO, buf, n)) == -1 && errno == EINTR)
		;
	if (got == -1)
		err(EXIT_SYS, "read");
	return got;
}

/*
 * Pass at most n bytes; the bytes past them in the last read are
 * dropped, as a cut link drops them.  1 if all n passed, 0 at EOF.
 */
static int
pass(uint64_t n, char *buf)
{
	ssize_t got;
	size_t k;

	while (n > 0) {
		if ((got = read_some(buf, CUT_BUF)) == 0)
			return 0;
		k = (uint64_t)got < n ? (size_t)got : (size_t)n;
		if (write_all(STDOUT_FILENO, buf, k) == -1)
			err(EXIT_SYS, "write");
		n -= k;
	}
	return 1;
}

int
main(int argc, char *argv[])
{
	struct cut c;
	struct fault_rng rng;
	uint64_t n;
	char *buf;

	memset(&c, 0, sizeof(c));
	parse_args(argc, argv, &c);
	if (!c.seeded)
		c.seed = fault_seed_default();
	fault_rng_seed(&rng, c.seed);
	n = c.lo + fault_rng_below(&rng, c.hi - c.lo + 1);
	if ((buf = malloc(CUT_BUF)) == NULL)
		err(EXIT_SYS, "malloc");
	/* EOF before the cut: nothing to inject, EOF passes through. */
	if (!pass(n, buf)) {
		free(buf);
		return 0;
	}
	if (c.lo != c.hi)
		warnx("cut after %" PRIu64 " bytes: %s (seed %" PRIu64 ")", n,
		    mode_names[c.mode], c.seed);
	else
		warnx("cut after %" PRIu64 " bytes: %s", n,
		    mode_names[c.mode]);
	if (c.mode == CUT_RESET)
		exit(FAULT_RESET);
	if (c.mode == CUT_SILENT)
		while (read_some(buf, CUT_BUF) > 0)
			;
	free(buf);
	return 0;
}
