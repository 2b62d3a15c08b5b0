/*
 * fault-corrupt: flip one bit in some bytes of stdin on the way to
 * stdout: each byte with probability RATE (-r), or every Nth byte
 * (-n); which bit, and with -r which bytes, come from the seed, so a
 * seeded run is reproducible.  Every flip is logged (offset, old, new)
 * up to a limit, then only counted, and a summary closes the log.
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

#define CORRUPT_BUF	(64 * 1024)

enum { OPT_SEED = 1000 };

struct corrupt {
	uint64_t	 every;		/* -n, 0 if -r */
	uint64_t	 threshold;	/* -r as a chance in 2^64 */
	int		 always;	/* -r 1 */
	long long	 max_lines;	/* -l */
	uint64_t	 seed;
	struct fault_rng rng;
	uint64_t	 offset;	/* bytes read before this chunk */
	uint64_t	 flips;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-l lines] [-n every] [-r rate] [--seed n]\n",
	    getprogname());
	exit(status);
}

/* A probability 0 <= p <= 1, as "0.001" or "1e-3". */
static void
rate_arg(struct corrupt *c, const char *s)
{
	char *end;
	double p;

	errno = 0;
	p = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(p >= 0 && p <= 1)) {
		warnx("-r %s: not a probability from 0 to 1", s);
		usage(EXIT_USAGE);
	}
	/* Below 1, p * 2^64 fits in 64 bits. */
	c->always = p == 1;
	c->threshold = c->always ? 0 :
	    (uint64_t)(p * 18446744073709551616.0);
}

static void
parse_args(int argc, char *argv[], struct corrupt *c)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "seed",	required_argument,	NULL,	OPT_SEED },
		{ NULL,		0,			NULL,	0 },
	};
	const char *errstr;
	int ch, rate = 0;

	while ((ch = getopt_long(argc, argv, "hl:n:r:", longopts, NULL)) !=
	    -1) {
		errstr = NULL;
		switch (ch) {
		case 'h':
			usage(0);
		case 'l':
			c->max_lines = strtonum(optarg, 0, INT_MAX, &errstr);
			break;
		case 'n':
			c->every = (uint64_t)strtonum(optarg, 1, LLONG_MAX,
			    &errstr);
			break;
		case 'r':
			rate_arg(c, optarg);
			rate = 1;
			break;
		case OPT_SEED:
			errstr = fault_parse_seed(optarg, &c->seed);
			break;
		default:
			usage(EXIT_USAGE);
		}
		if (errstr != NULL) {
			warnx("%s: %s", optarg, errstr);
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if ((c->every != 0) == rate) {
		warnx("one of -n and -r is required");
		usage(EXIT_USAGE);
	}
}

static int
hit(struct corrupt *c, uint64_t off)
{
	if (c->every != 0)
		return (off + 1) % c->every == 0;
	return c->always || fault_rng_next(&c->rng) < c->threshold;
}

static void
flip(struct corrupt *c, unsigned char *p, uint64_t off)
{
	unsigned char old = *p;

	*p ^= (unsigned char)(1U << fault_rng_below(&c->rng, 8));
	c->flips++;
	if (c->flips <= (uint64_t)c->max_lines)
		warnx("flip at byte %" PRIu64 ": 0x%02x -> 0x%02x", off, old,
		    *p);
	if (c->flips == (uint64_t)c->max_lines + 1)
		warnx("more flips than -l %lld: counting them only",
		    c->max_lines);
}

static void
corrupt_chunk(struct corrupt *c, unsigned char *buf, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (hit(c, c->offset + i))
			flip(c, buf + i, c->offset + i);
	c->offset += n;
}

int
main(int argc, char *argv[])
{
	struct corrupt c;
	unsigned char *buf;
	ssize_t got;

	memset(&c, 0, sizeof(c));
	c.max_lines = 100;
	c.seed = fault_seed_default();
	parse_args(argc, argv, &c);
	fault_rng_seed(&c.rng, c.seed);
	if ((buf = malloc(CORRUPT_BUF)) == NULL)
		err(EXIT_SYS, "malloc");
	for (;;) {
		if ((got = read(STDIN_FILENO, buf, CORRUPT_BUF)) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYS, "read");
		}
		if (got == 0)
			break;
		corrupt_chunk(&c, buf, (size_t)got);
		if (write_all(STDOUT_FILENO, buf, (size_t)got) == -1)
			err(EXIT_SYS, "write");
	}
	if (c.flips > (uint64_t)c.max_lines)
		warnx("%" PRIu64 " bytes flipped of %" PRIu64 " (seed %" PRIu64
		    ")", c.flips, c.offset, c.seed);
	free(buf);
	return 0;
}
