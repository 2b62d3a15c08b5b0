/*
 * fault-slice: a byte stream in small writes with pauses between them,
 * stdin to stdout, to shake out readers that assume one read per
 * message.  -R draws each write's size from 1..BYTES with the seed.
 */

#include <sys/types.h>

#include <err.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define SLICE_QUEUE_MAX	(64 * 1024)
#define SLICE_SIZE_MAX	(1024 * 1024)

enum { OPT_SEED = 1000 };

struct slice {
	uint64_t	 size;		/* bytes a write, at most */
	uint64_t	 pause;		/* us after each write */
	int		 random;	/* -R */
	uint64_t	 seed;
	struct fault_rng rng;
	size_t		 cur;		/* this write's size, 0: not drawn */
	uint64_t	 next;		/* no write before, us */
	int		 logged;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-R] [-p pause] [-s bytes] [--seed n]\n",
	    getprogname());
	exit(status);
}

static void
slice_log(struct slice *sl)
{
	char pause[32];

	fault_fmt_time(pause, sizeof(pause), sl->pause);
	if (sl->random)
		warnx("slice into writes of 1 to %" PRIu64 " bytes, pause %s"
		    " (seed %" PRIu64 ")", sl->size, pause, sl->seed);
	else
		warnx("slice into writes of %" PRIu64 " bytes, pause %s",
		    sl->size, pause);
	sl->logged = 1;
}

static size_t
slice_allow(void *arg, uint64_t now, size_t avail, uint64_t *wake)
{
	struct slice *sl = arg;

	if (!sl->logged)
		slice_log(sl);
	if (now < sl->next) {
		if (sl->next < *wake)
			*wake = sl->next;
		return 0;
	}
	/* Drawn once per write, so a retry does not change the sequence. */
	if (sl->cur == 0)
		sl->cur = sl->random ?
		    (size_t)(1 + fault_rng_below(&sl->rng, sl->size)) :
		    (size_t)sl->size;
	return sl->cur < avail ? sl->cur : avail;
}

static void
slice_wrote(void *arg, uint64_t now, size_t n)
{
	struct slice *sl = arg;

	(void)n;
	sl->cur = 0;
	sl->next = now + sl->pause;
}

static void
parse_args(int argc, char *argv[], struct slice *sl)
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "seed",	required_argument,	NULL,	OPT_SEED },
		{ NULL,		0,			NULL,	0 },
	};
	const char *errstr, *opt = NULL;
	int ch;

	while ((ch = getopt_long(argc, argv, "hp:Rs:", longopts, NULL)) !=
	    -1) {
		errstr = NULL;
		switch (ch) {
		case 'h':
			usage(0);
		case 'p':
			opt = "-p";
			errstr = fault_parse_time(optarg, &sl->pause);
			break;
		case 'R':
			sl->random = 1;
			break;
		case 's':
			opt = "-s";
			errstr = fault_parse_size(optarg, &sl->size);
			if (errstr == NULL && (sl->size < 1 ||
			    sl->size > SLICE_SIZE_MAX))
				errstr = "not 1 to 1m";
			break;
		case OPT_SEED:
			opt = "--seed";
			errstr = fault_parse_seed(optarg, &sl->seed);
			break;
		default:
			usage(EXIT_USAGE);
		}
		if (errstr != NULL) {
			warnx("%s %s: %s", opt, optarg, errstr);
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
}

int
main(int argc, char *argv[])
{
	struct slice sl;
	struct fault_policy p;

	memset(&sl, 0, sizeof(sl));
	sl.size = 1;
	sl.seed = fault_seed_default();
	parse_args(argc, argv, &sl);
	fault_rng_seed(&sl.rng, sl.seed);
	memset(&p, 0, sizeof(p));
	p.arg = &sl;
	p.allow = slice_allow;
	p.wrote = slice_wrote;
	p.max_queued = SLICE_QUEUE_MAX;
	fault_run(&p);
	return 0;
}
