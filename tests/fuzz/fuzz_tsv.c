/*
 * The TSV recording reader (src/tsv.c): tsv_reader_init on a FILE*,
 * tsv_next to the end or the first error, as tap-tsv -d and tap-replay
 * read a recording.
 *
 * Input: 1 control byte (the max payload: the default or a small one,
 * so the "line too long" and "payload over the maximum" paths are
 * reached), then the file.
 *
 * Invariants: every line read has a c2s/s2c direction, a payload within
 * the maximum and times that never go back; an error names FILE:LINE
 * and sets errno EBADMSG; and what was read, written back with
 * tsv_write and read again, gives the same lines.
 */
#include <errno.h>
#include <string.h>

#include "tcptap.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const uint64_t maxes[] = { 0, 1, 2, 3, 7, 16, 100, 4096 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tsv_reader r, r2;
	struct tsv_line l, l2;
	FILE *f, *out, *back;
	char *obuf = NULL;
	size_t olen = 0;
	uint64_t max, prev = 0, lines = 0;
	int rv, rv2;

	if (size < 2)
		return 0;
	max = maxes[data[0] % 8];
	if ((f = fmemopen((void *)(uintptr_t)(data + 1), size - 1, "r")) ==
	    NULL)
		return 0;
	if ((out = open_memstream(&obuf, &olen)) == NULL) {
		fclose(f);
		return 0;
	}
	FZ_ASSERT(tsv_reader_init(&r, f, "fuzz.tsv", max) == 0);
	if (max == 0)
		max = FRAME_MAX_DEFAULT;
	while ((rv = tsv_next(&r, &l)) == 1) {
		FZ_ASSERT(strcmp(l.dir, "c2s") == 0 ||
		    strcmp(l.dir, "s2c") == 0);
		FZ_ASSERT(l.len <= max);
		FZ_ASSERT(l.us >= prev);
		prev = l.us;
		if (l.len > 0)
			FZ_ASSERT(l.p != NULL && (l.p[0] | 1) != 0 &&
			    (l.p[l.len - 1] | 1) != 0);
		FZ_ASSERT(tsv_write(out, l.us, l.dir, l.p, l.len) == 0);
		lines++;
	}
	FZ_ASSERT(rv == 0 || rv == -1);
	if (rv == -1) {
		FZ_ASSERT(errno == EBADMSG);
		FZ_ASSERT(strncmp(r.err, "fuzz.tsv:", 9) == 0);
	}
	FZ_ASSERT(fclose(out) == 0);

	/* Round trip: the lines written back read the same. */
	if (olen > 0 && (back = fmemopen(obuf, olen, "r")) != NULL) {
		struct tsv_reader a;
		FILE *again = fmemopen((void *)(uintptr_t)(data + 1),
		    size - 1, "r");

		FZ_ASSERT(again != NULL);
		tsv_reader_init(&a, again, "fuzz.tsv", max);
		tsv_reader_init(&r2, back, "back.tsv", max);
		while (lines-- > 0) {
			FZ_ASSERT(tsv_next(&a, &l) == 1);
			rv2 = tsv_next(&r2, &l2);
			FZ_ASSERT(rv2 == 1);
			FZ_ASSERT(l.us == l2.us && strcmp(l.dir, l2.dir) == 0 &&
			    l.len == l2.len &&
			    (l.len == 0 || memcmp(l.p, l2.p, l.len) == 0));
		}
		FZ_ASSERT(tsv_next(&r2, &l2) == 0);
		tsv_reader_free(&a);
		tsv_reader_free(&r2);
		fclose(again);
		fclose(back);
	}
	free(obuf);
	tsv_reader_free(&r);
	fclose(f);
	return 0;
}
