/*
 * tt-framegen: make a length-prefixed byte stream for tests.
 *
 *	tt-framegen [-IKL] [-H n] [-O n] [-a adjust] [-S seed] [-e file]
 *	    [-l file] SIZE ...
 *
 * For each SIZE, one frame to stdout: -O n header bytes (0xf0 + the
 * frame's index, so each frame's header differs), an -H n byte length
 * field (default 8, up to 16, big-endian unless -L) holding SIZE minus
 * the adjust (-a n; -I: minus the header size, i.e. a length that
 * includes the header), then SIZE pseudo-random payload bytes.
 * -e writes what tap-frame must emit, all frames back to back (the
 * payloads; with -K header and payload); -l writes its record lengths,
 * one a line.  The same seed gives the same bytes.  Standalone: the
 * test build links no library.
 */

#include <err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng = 88172645463325252ULL;

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
put(FILE *f, const void *p, size_t n)
{
	if (f != NULL && n > 0 && fwrite(p, 1, n, f) != n)
		err(3, "write");
}

int
main(int argc, char *argv[])
{
	unsigned char hdr[64], buf[65536];
	FILE *expect = NULL, *lens = NULL;
	long long adjust = 0, field;
	unsigned long long size, left;
	int ch, hlen = 8, off = 0, little = 0, keep = 0, incl = 0, i, k;
	size_t n, j;

	while ((ch = getopt(argc, argv, "H:IKLO:S:a:e:l:")) != -1) {
		switch (ch) {
		case 'H':
			hlen = atoi(optarg);
			break;
		case 'I':
			incl = 1;
			break;
		case 'K':
			keep = 1;
			break;
		case 'L':
			little = 1;
			break;
		case 'O':
			off = atoi(optarg);
			break;
		case 'S':
			rng = strtoull(optarg, NULL, 10) * 2654435761ULL + 1;
			break;
		case 'a':
			adjust = strtoll(optarg, NULL, 10);
			break;
		case 'e':
			if ((expect = fopen(optarg, "wb")) == NULL)
				err(3, "%s", optarg);
			break;
		case 'l':
			if ((lens = fopen(optarg, "w")) == NULL)
				err(3, "%s", optarg);
			break;
		default:
			goto usage;
		}
	}
	if (hlen < 1 || hlen > 16 || off < 0 || off > 48 || optind == argc)
		goto usage;
	if (incl)
		adjust = -(off + hlen);
	for (i = optind; i < argc; i++) {
		size = strtoull(argv[i], NULL, 10);
		field = (long long)size - adjust;
		if (field < 0)
			errx(2, "%s: negative length field", argv[i]);
		memset(hdr, 0, sizeof(hdr));
		for (k = 0; k < off; k++)
			hdr[k] = (unsigned char)(0xf0 + i);
		for (k = 0; k < hlen && k < 8; k++)	/* k: from the low end */
			hdr[off + (little ? k : hlen - 1 - k)] =
			    (unsigned char)((unsigned long long)field >> (8 * k));
		put(stdout, hdr, (size_t)(off + hlen));
		if (keep)
			put(expect, hdr, (size_t)(off + hlen));
		if (lens != NULL)
			fprintf(lens, "%llu\n",
			    size + (keep ? (unsigned long long)(off + hlen) : 0));
		for (left = size; left > 0; left -= n) {
			n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
			for (j = 0; j < n; j++)
				buf[j] = (unsigned char)(rnd() >> 32);
			put(stdout, buf, n);
			put(expect, buf, n);
		}
	}
	if (fflush(stdout) == EOF)
		err(3, "stdout");
	if (expect != NULL && fclose(expect) == EOF)
		err(3, "expect file");
	if (lens != NULL && fclose(lens) == EOF)
		err(3, "lengths file");
	return 0;
usage:
	fprintf(stderr, "usage: tt-framegen [-IKL] [-H n] [-O n] [-a adjust] "
	    "[-S seed] [-e file] [-l file] SIZE ...\n");
	return 2;
}
