/*
 * What the fault-* filters share: a seeded generator (so --seed
 * reproduces a run on any libc), the parsers of times, sizes and seeds,
 * and fault_run, the scheduler that delay, throttle and slice put their
 * policies in.  The filters are plain stdin-to-stdout programs so that
 * they work in a shell pipeline and inline in a relay alike.
 */

#include <sys/types.h>
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tcptap.h"

#define FAULT_BUF	(64 * 1024)

/* splitmix64: tiny, fast, and the same sequence everywhere. */
void
fault_rng_seed(struct fault_rng *r, uint64_t seed)
{
	r->s = seed;
}

uint64_t
fault_rng_next(struct fault_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0: rejection keeps it unbiased. */
uint64_t
fault_rng_below(struct fault_rng *r, uint64_t n)
{
	uint64_t x, lim;

	if (n == 0)
		return 0;
	lim = UINT64_MAX - UINT64_MAX % n;
	while ((x = fault_rng_next(r)) >= lim)
		;
	return x % n;
}

/* Without --seed a run is not meant to repeat: take fresh entropy. */
uint64_t
fault_seed_default(void)
{
	return ((uint64_t)arc4random() << 31) ^ arc4random();
}

const char *
fault_parse_seed(const char *s, uint64_t *out)
{
	const char *errstr;
	long long v;

	v = strtonum(s, 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		return errstr;
	*out = (uint64_t)v;
	return NULL;
}

/*
 * "N[.F]" then a unit: digits, an optional fraction of at most 6
 * digits, scaled by mult (the unit, in millionths of the result).
 * NULL or why not.
 */
static const char *
parse_scaled(const char *s, uint64_t mult, uint64_t max, uint64_t *out)
{
	uint64_t ip = 0, fp = 0, fscale = 1000000, v;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return "not a number";
	for (; *p >= '0' && *p <= '9'; p++) {
		if (ip > (UINT64_MAX - 9) / 10)
			return "too large";
		ip = ip * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return "bad fraction";
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (fscale == 1)
				return "more than 6 decimals";
			fscale /= 10;
			fp += (uint64_t)(*p - '0') * fscale;
		}
	}
	if (*p != '\0')
		return "bad unit";
	/* Every max here is below 2^41: past 10^15 nothing can fit. */
	if (ip > 1000000000000000ULL)
		return "too large";
	v = (uint64_t)(((unsigned __int128)ip * 1000000 + fp) * mult /
	    1000000000000ULL);
	if (v > max)
		return "too large";
	*out = v;
	return NULL;
}

/* The unit suffix of s among units[], its multiplier; s cut before it. */
struct unit {
	const char	*name;
	uint64_t	 mult;		/* millionths of the base unit */
};

static const char *
parse_unit(const char *s, const struct unit *units, uint64_t max,
    uint64_t *out)
{
	char buf[64];
	size_t n = strlen(s), k;
	int i;

	if (n >= sizeof(buf))
		return "too long";
	/* The longest unit that ends s wins ("ms" over "s"). */
	for (i = 0; units[i].name != NULL; i++) {
		k = strlen(units[i].name);
		if (k <= n && strcmp(s + n - k, units[i].name) == 0)
			break;
	}
	memcpy(buf, s, n + 1);
	if (units[i].name != NULL)
		buf[n - strlen(units[i].name)] = '\0';
	return parse_scaled(buf, units[i].mult, max, out);
}

/* "100" and "100ms" are milliseconds; also "us" and "s".  In us. */
const char *
fault_parse_time(const char *s, uint64_t *us)
{
	static const struct unit units[] = {
		{ "us",	1000000ULL },
		{ "ms",	1000000000ULL },
		{ "s",	1000000000000ULL },
		{ NULL,	1000000000ULL },	/* no unit: ms */
	};

	return parse_unit(s, units, FAULT_TIME_MAX, us);
}

/* Bytes: "512", "64k", "1.5m", "1g" (k = 1024). */
const char *
fault_parse_size(const char *s, uint64_t *bytes)
{
	static const struct unit units[] = {
		{ "k",	1024ULL * 1000000 },
		{ "K",	1024ULL * 1000000 },
		{ "m",	1048576ULL * 1000000 },
		{ "M",	1048576ULL * 1000000 },
		{ "g",	1073741824ULL * 1000000 },
		{ "G",	1073741824ULL * 1000000 },
		{ NULL,	1000000ULL },
	};

	return parse_unit(s, units, 1ULL << 40, bytes);
}

/* "100ms", or "250us" when not whole milliseconds. */
void
fault_fmt_time(char *buf, size_t len, uint64_t us)
{
	if (us % 1000 == 0)
		(void)snprintf(buf, len, "%" PRIu64 "ms", us / 1000);
	else
		(void)snprintf(buf, len, "%" PRIu64 "us", us);
}

/* The scheduler follows. */

struct chunk {
	struct chunk	*next;
	uint64_t	 due;
	size_t		 len, off;
	unsigned char	 data[];
};

struct sched {
	const struct fault_policy *p;
	struct chunk	*head, *tail;
	size_t		 queued;	/* bytes in the queue, unwritten */
	uint64_t	 last_due;	/* due times never go back */
	int		 eof;
	uint64_t	 eof_due;
	int		 blocked;	/* stdout said EAGAIN: wait for POLLOUT */
	int		 out_nb;	/* we made stdout non-blocking */
	unsigned char	*buf;
};

static uint64_t
due_of(struct sched *s, uint64_t now, size_t len)
{
	uint64_t due = s->p->due != NULL ? s->p->due(s->p->arg, now, len) :
	    now;

	/* A later chunk is never due before an earlier one: no reorder. */
	if (due < s->last_due)
		due = s->last_due;
	s->last_due = due;
	return due;
}

static void
sched_read(struct sched *s, uint64_t now)
{
	size_t room = s->p->max_queued - s->queued;
	struct chunk *c;
	ssize_t got;

	if (room > FAULT_BUF)
		room = FAULT_BUF;
	if ((got = read(STDIN_FILENO, s->buf, room)) == -1) {
		/* stdin may share stdout's (non-blocking) file. */
		if (errno == EINTR || errno == EAGAIN)
			return;
		err(EXIT_SYS, "read");
	}
	if (got == 0) {
		s->eof = 1;
		s->eof_due = due_of(s, now, 0);
		return;
	}
	/* Exact size: a queue of many small reads stays small. */
	if ((c = malloc(sizeof(*c) + (size_t)got)) == NULL)
		err(EXIT_SYS, "malloc");
	memcpy(c->data, s->buf, (size_t)got);
	c->next = NULL;
	c->len = (size_t)got;
	c->off = 0;
	c->due = due_of(s, now, c->len);
	if (s->tail != NULL)
		s->tail->next = c;
	else
		s->head = c;
	s->tail = c;
	s->queued += c->len;
}

static void
sched_pop(struct sched *s)
{
	struct chunk *c = s->head;

	if ((s->head = c->next) == NULL)
		s->tail = NULL;
	free(c);
}

/* Write what is due and allowed; lower *wake to when more will be. */
static void
sched_write(struct sched *s, uint64_t *wake)
{
	const struct fault_policy *p = s->p;
	struct chunk *c;
	uint64_t now;
	ssize_t w;
	size_t n;

	while ((c = s->head) != NULL && !s->blocked) {
		now = mono_us();
		if (c->due > now) {
			if (c->due < *wake)
				*wake = c->due;
			return;
		}
		n = c->len - c->off;
		if (p->allow != NULL && (n = p->allow(p->arg, now, n, wake)) == 0)
			return;
		if ((w = write(STDOUT_FILENO, c->data + c->off, n)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				s->blocked = 1;
				return;
			}
			err(EXIT_SYS, "write");
		}
		if (p->wrote != NULL)
			p->wrote(p->arg, now, (size_t)w);
		c->off += (size_t)w;
		s->queued -= (size_t)w;
		if (c->off == c->len)
			sched_pop(s);
	}
}

/*
 * A blocking write could stall reading, and arrivals would be stamped
 * late; so stdout is made non-blocking, but only when it is a pipe or a
 * socket: a file never blocks long, and a terminal's file description
 * is shared with other programs.
 */
static int
out_nonblock(void)
{
	struct stat st;

	if (fstat(STDOUT_FILENO, &st) == -1)
		err(EXIT_SYS, "fstat stdout");
	if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
		return 0;
	if (fd_nonblock(STDOUT_FILENO) == -1)
		err(EXIT_SYS, "fcntl stdout");
	return 1;
}

static void
sched_poll(struct sched *s, uint64_t wake)
{
	struct pollfd pfd[2];
	struct timespec ts, *tsp = NULL;
	uint64_t now = mono_us();
	int n;

	pfd[0].fd = !s->eof && s->queued < s->p->max_queued ?
	    STDIN_FILENO : -1;
	pfd[0].events = POLLIN;
	pfd[1].fd = s->blocked ? STDOUT_FILENO : -1;
	pfd[1].events = POLLOUT;
	pfd[0].revents = pfd[1].revents = 0;
	if (wake != UINT64_MAX) {
		wake = wake > now ? wake - now : 0;
		ts.tv_sec = (time_t)(wake / 1000000);
		ts.tv_nsec = (long)(wake % 1000000) * 1000;
		tsp = &ts;
	}
	if ((n = ppoll(pfd, 2, tsp, NULL)) == -1) {
		if (errno == EINTR)
			return;
		err(EXIT_SYS, "ppoll");
	}
	/* POLLERR, POLLHUP: the write or read that follows says what. */
	if (pfd[1].revents != 0)
		s->blocked = 0;
	if (pfd[0].revents != 0)
		sched_read(s, mono_us());
}

void
fault_run(const struct fault_policy *p)
{
	struct sched s;
	uint64_t wake;

	memset(&s, 0, sizeof(s));
	s.p = p;
	if ((s.buf = malloc(FAULT_BUF)) == NULL)
		err(EXIT_SYS, "malloc");
	s.out_nb = out_nonblock();
	for (;;) {
		wake = UINT64_MAX;
		sched_write(&s, &wake);
		if (s.head == NULL && s.eof) {
			if (s.eof_due <= mono_us())
				break;
			if (s.eof_due < wake)
				wake = s.eof_due;
		}
		sched_poll(&s, wake);
	}
	/* Leave the file description as we found it. */
	if (s.out_nb && fd_block(STDOUT_FILENO) == -1)
		err(EXIT_SYS, "fcntl stdout");
	free(s.buf);
}
