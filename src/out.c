/*
 * An output buffer that grows: filters build a whole record's output in
 * one, so it goes out in a single write(2) and concurrent writers to
 * one file never interleave inside a record.
 */

#include <err.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tcptap.h"

/* Room for n more bytes, or exit: a filter has no use for half a line. */
void
out_need(struct out *o, size_t n)
{
	size_t cap = o->cap ? o->cap : 64 * 1024;
	char *p;

	if (o->cap - o->len >= n)
		return;
	while (cap - o->len < n) {
		if (cap > SIZE_MAX / 2)
			errx(EXIT_SYS, "output too long");
		cap *= 2;
	}
	if ((p = realloc(o->buf, cap)) == NULL)
		err(EXIT_SYS, "realloc");
	o->buf = p;
	o->cap = cap;
}

void
out_add(struct out *o, const char *s, size_t n)
{
	out_need(o, n);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

void
out_str(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}
