/*
 * fault-delay: latency and jitter on a byte stream, stdin to stdout.
 * Each chunk read is stamped on arrival and written once its delay is
 * over; reading goes on meanwhile, so the delays do not add up beyond
 * what was asked, and bytes are never reordered (a chunk is never due
 * before the one ahead of it).  Usable inline in a relay or in a pipe.
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

/* Enough for a fast link times a long delay; then reading waits. */
#define DELAY_QUEUE_MAX	(16 * 1024 * 1024)

enum { OPT_SEED = 1000 };

struct delay {
	uint64_t	 delay, jitter;	/* us */
	uint64_t	 seed;
	struct fault_rng rng;
	int		 logged;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-d delay] [-j jitter] [--seed n] [delay]\n",
	    getprogname());
	exit(status);
}

static uint64_t
time_arg(const char *opt, const char *s)
{
	const char *errstr;
	uint64_t us;

	if ((errstr = fault_parse_time(s, &us)) != NULL) {
		warnx("%s %s: %s", opt, s, errstr);
		usage(EXIT_USAGE);
	}
	return us;
}

/* The one fault: say it once, when the first bytes are held. */
static void
delay_log(struct delay *d)
{
	char a[32], b[32];

	fault_fmt_time(a, sizeof(a), d->delay);
	fault_fmt_time(b, sizeof(b), d->jitter);
	if (d->jitter > 0)
		warnx("delay %s plus jitter up to %s (seed %" PRIu64 ")", a,
		    b, d->seed);
	else
		warnx("delay %s", a);
	d->logged = 1;
}

/* Due at arrival + delay + 0..jitter; EOF (len 0) is delayed alike. */
static uint64_t
delay_due(void *arg, uint64_t now, size_t len)
{
	struct delay *d = arg;

	if (len > 0 && !d->logged)
		delay_log(d);
	return now + d->delay + fault_rng_below(&d->rng, d->jitter + 1);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "seed",	required_argument,	NULL,	OPT_SEED },
		{ NULL,		0,			NULL,	0 },
	};
	struct delay d;
	struct fault_policy p;
	const char *errstr;
	int ch, have_delay = 0;

	memset(&d, 0, sizeof(d));
	d.seed = fault_seed_default();
	while ((ch = getopt_long(argc, argv, "d:hj:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'd':
			d.delay = time_arg("-d", optarg);
			have_delay = 1;
			break;
		case 'h':
			usage(0);
		case 'j':
			d.jitter = time_arg("-j", optarg);
			break;
		case OPT_SEED:
			if ((errstr = fault_parse_seed(optarg, &d.seed)) !=
			    NULL) {
				warnx("--seed %s: %s", optarg, errstr);
				usage(EXIT_USAGE);
			}
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	argc -= optind;
	argv += optind;
	/* `fault-delay 100ms` reads like toxiproxy's latency toxic. */
	if (argc == 1 && !have_delay) {
		d.delay = time_arg("delay", argv[0]);
		have_delay = 1;
	} else if (argc > 0) {
		warnx("%s: one delay only: the input is stdin", argv[0]);
		usage(EXIT_USAGE);
	}
	if (!have_delay) {
		warnx("no delay given");
		usage(EXIT_USAGE);
	}
	fault_rng_seed(&d.rng, d.seed);
	memset(&p, 0, sizeof(p));
	p.arg = &d;
	p.due = delay_due;
	p.max_queued = DELAY_QUEUE_MAX;
	fault_run(&p);
	return 0;
}
