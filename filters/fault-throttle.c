/*
 * fault-throttle: a byte stream at a given rate, stdin to stdout, by a
 * token bucket: tokens accrue at RATE bytes a second up to a small
 * burst, and a write spends them.  The queue is small, so a slow rate
 * pushes back on the sender as a slow link would, instead of buffering
 * what it sent.
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

#define THROTTLE_QUEUE_MAX	(64 * 1024)
#define BURST_MAX		(64 * 1024)

enum { OPT_SEED = 1000 };

struct throttle {
	uint64_t	 rate;		/* bytes a second */
	uint64_t	 burst;		/* bucket size, bytes */
	uint64_t	 quantum;	/* least worth waking up for */
	double		 tokens;
	uint64_t	 last;		/* when tokens were counted, us */
	int		 logged;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-b burst] [-r rate] [--seed n] [rate]\n",
	    getprogname());
	exit(status);
}

static uint64_t
size_arg(const char *opt, const char *s)
{
	const char *errstr;
	uint64_t v;

	if ((errstr = fault_parse_size(s, &v)) != NULL) {
		warnx("%s %s: %s", opt, s, errstr);
		usage(EXIT_USAGE);
	}
	if (v == 0) {
		warnx("%s %s: must be at least 1", opt, s);
		usage(EXIT_USAGE);
	}
	return v;
}

static void
refill(struct throttle *t, uint64_t now)
{
	if (now > t->last)
		t->tokens += (double)(now - t->last) * (double)t->rate / 1e6;
	if (t->tokens > (double)t->burst)
		t->tokens = (double)t->burst;
	t->last = now;
}

/*
 * As many bytes as there are tokens; when too few, sleep until there
 * are a quantum's worth (or what is waiting), not one byte's: a write
 * per byte would cost more than the link it imitates.
 */
static size_t
throttle_allow(void *arg, uint64_t now, size_t avail, uint64_t *wake)
{
	struct throttle *t = arg;
	uint64_t want, at;

	if (!t->logged) {
		warnx("throttle to %" PRIu64 " bytes/s, burst %" PRIu64,
		    t->rate, t->burst);
		t->logged = 1;
	}
	refill(t, now);
	want = avail < t->burst ? avail : t->burst;
	if (want > t->quantum)
		want = t->quantum;
	if (t->tokens >= (double)want)
		return (uint64_t)t->tokens < avail ? (size_t)t->tokens : avail;
	at = now + (uint64_t)(((double)want - t->tokens) * 1e6 /
	    (double)t->rate) + 1;
	if (at < *wake)
		*wake = at;
	return 0;
}

static void
throttle_wrote(void *arg, uint64_t now, size_t n)
{
	struct throttle *t = arg;

	(void)now;
	t->tokens -= (double)n;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "seed",	required_argument,	NULL,	OPT_SEED },
		{ NULL,		0,			NULL,	0 },
	};
	struct throttle t;
	struct fault_policy p;
	const char *errstr;
	uint64_t seed;
	int ch;

	memset(&t, 0, sizeof(t));
	while ((ch = getopt_long(argc, argv, "b:hr:", longopts, NULL)) !=
	    -1) {
		switch (ch) {
		case 'b':
			t.burst = size_arg("-b", optarg);
			break;
		case 'h':
			usage(0);
		case 'r':
			t.rate = size_arg("-r", optarg);
			break;
		case OPT_SEED:
			/* Nothing here is random; taken for uniformity. */
			if ((errstr = fault_parse_seed(optarg, &seed)) !=
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
	if (argc == 1 && t.rate == 0)
		t.rate = size_arg("rate", argv[0]);
	else if (argc > 0) {
		warnx("%s: one rate only: the input is stdin", argv[0]);
		usage(EXIT_USAGE);
	}
	if (t.rate == 0) {
		warnx("no rate given");
		usage(EXIT_USAGE);
	}
	/* Default burst: 1/20 s of traffic, 1 byte to 64 KiB. */
	if (t.burst == 0) {
		t.burst = t.rate / 20;
		if (t.burst > BURST_MAX)
			t.burst = BURST_MAX;
		if (t.burst == 0)
			t.burst = 1;
	}
	/* Wake at most about a hundred times a second. */
	t.quantum = t.rate / 100 > 0 ? t.rate / 100 : 1;
	t.tokens = (double)t.burst;
	t.last = mono_us();
	memset(&p, 0, sizeof(p));
	p.arg = &t;
	p.allow = throttle_allow;
	p.wrote = throttle_wrote;
	p.max_queued = THROTTLE_QUEUE_MAX;
	fault_run(&p);
	return 0;
}
