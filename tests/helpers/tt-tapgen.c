/*
 * tt-tapgen: make a tap stream for tests from raw files.
 *
 *	tt-tapgen [-e file] [-m max] [-S seed] [-u] SID C2S S2C ...
 *
 * For each session: an open record, then the bytes of file C2S as c2s
 * data records and of S2C as s2c data records, cut at random sizes
 * 1..max (default 1000) and interleaved at random across directions and
 * sessions; a shut when a direction is done, a close when both are.
 * -u adds records of an unknown kind ("zzz", payload "noise\n") at
 * random places.  -e writes every data payload, in stream order, to
 * file: what tap-cat without -d must print.  The same seed gives the same stream.  Standalone: the
 * test build links no library.
 */

#include <err.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct dir {
	unsigned char	*buf;
	size_t		 len, off;
	int		 shut;
};

struct sess {
	const char	*sid;
	struct dir	 d[2];		/* c2s, s2c */
	int		 closed;
};

static uint64_t rng = 88172645463325252ULL;
static FILE *expect;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
put(const void *p, size_t n)
{
	if (n > 0 && fwrite(p, 1, n, stdout) != n)
		err(3, "stdout");
}

static void
record(const char *kind, const char *sid, uint64_t us, const char *dir,
    const void *p, size_t n)
{
	char h[64];
	int k;

	k = snprintf(h, sizeof(h), "tap1 %s %s %llu %s %zu", kind, sid,
	    (unsigned long long)us, dir, n);
	if (k < 0 || k > 63)
		errx(3, "header too long");
	memset(h + k, ' ', (size_t)(63 - k));
	h[63] = '\n';
	put(h, sizeof(h));
	put(p, n);
	if (expect != NULL && strcmp(kind, "data") == 0 && n > 0 &&
	    fwrite(p, 1, n, expect) != n)
		err(3, "expect file");
}

static unsigned char *
slurp(const char *path, size_t *len)
{
	FILE *f;
	unsigned char *buf = NULL, *nb;
	size_t cap = 0, n;

	if ((f = fopen(path, "rb")) == NULL)
		err(3, "%s", path);
	*len = 0;
	do {
		if (cap - *len < 65536) {
			cap = cap ? 2 * cap : 65536;
			if ((nb = realloc(buf, cap)) == NULL)
				err(3, "realloc");
			buf = nb;
		}
		n = fread(buf + *len, 1, cap - *len, f);
		*len += n;
	} while (n > 0);
	if (ferror(f))
		err(3, "%s", path);
	fclose(f);
	return buf;
}

int
main(int argc, char *argv[])
{
	static const char *dirname[2] = { "c2s", "s2c" };
	struct sess *s;
	uint64_t us = 1700000000000000ULL;
	size_t max = 1000, ns, i, open_left, n;
	int ch, unknown = 0, d;
	char kv[256];

	while ((ch = getopt(argc, argv, "e:m:S:u")) != -1) {
		switch (ch) {
		case 'e':
			if ((expect = fopen(optarg, "wb")) == NULL)
				err(3, "%s", optarg);
			break;
		case 'm':
			max = strtoul(optarg, NULL, 10);
			break;
		case 'S':
			rng = strtoull(optarg, NULL, 10) * 2654435761ULL + 1;
			break;
		case 'u':
			unknown = 1;
			break;
		default:
			goto usage;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0 || argc % 3 != 0 || max == 0)
		goto usage;
	ns = (size_t)argc / 3;
	if ((s = calloc(ns, sizeof(*s))) == NULL)
		err(3, "calloc");
	for (i = 0; i < ns; i++) {
		s[i].sid = argv[3 * i];
		s[i].d[0].buf = slurp(argv[3 * i + 1], &s[i].d[0].len);
		s[i].d[1].buf = slurp(argv[3 * i + 2], &s[i].d[1].len);
		n = (size_t)snprintf(kv, sizeof(kv), "client=127.0.0.1:%zu\n"
		    "server=127.0.0.1:6379\nlisten=127.0.0.1:9000\n",
		    40000 + i);
		record("open", s[i].sid, us, "-", kv, n);
	}
	for (open_left = ns; open_left > 0;) {
		i = (size_t)(rnd() % ns);
		if (s[i].closed)
			continue;
		us += rnd() % 1000;
		if (unknown && rnd() % 5 == 0)
			record("zzz", s[i].sid, us, "-", "noise\n", 6);
		d = (int)(rnd() % 2);
		if (s[i].d[d].shut)
			d = !d;
		if (s[i].d[d].off < s[i].d[d].len) {
			n = 1 + (size_t)(rnd() % max);
			if (n > s[i].d[d].len - s[i].d[d].off)
				n = s[i].d[d].len - s[i].d[d].off;
			record("data", s[i].sid, us, dirname[d],
			    s[i].d[d].buf + s[i].d[d].off, n);
			s[i].d[d].off += n;
		} else if (!s[i].d[d].shut) {
			record("shut", s[i].sid, us, dirname[d], NULL, 0);
			s[i].d[d].shut = 1;
		}
		if (s[i].d[0].shut && s[i].d[1].shut) {
			n = (size_t)snprintf(kv, sizeof(kv), "reason=eof\n"
			    "by=client\nc2s_bytes=%zu\ns2c_bytes=%zu\n"
			    "duration_us=1000\n", s[i].d[0].len,
			    s[i].d[1].len);
			record("close", s[i].sid, us, "-", kv, n);
			s[i].closed = 1;
			open_left--;
		}
	}
	if (fflush(stdout) == EOF)
		err(3, "stdout");
	if (expect != NULL && fclose(expect) == EOF)
		err(3, "expect file");
	/* Freed so that sanitizer builds of the tests stay quiet. */
	for (i = 0; i < ns; i++) {
		free(s[i].d[0].buf);
		free(s[i].d[1].buf);
	}
	free(s);
	return 0;
usage:
	fprintf(stderr, "usage: tt-tapgen [-e file] [-m max] [-S seed] [-u] "
	    "SID C2S S2C ...\n");
	return 2;
}
