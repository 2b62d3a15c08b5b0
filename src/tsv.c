/*
 * The "ts_proxy recording v1" TSV format (DESIGN.md):
 *
 *	# ts_proxy recording v1
 *	<elapsed_us>\t<c2s|s2c>\t<lowercase hex payload>\n
 *	...
 *
 * The reader streams a recording line by line in bounded memory: a line
 * longer than 2 x max_payload + 64 bytes is an error before it is read
 * to its end, so a multi-GB line with no newline never allocates more
 * than that.  It never guesses: every malformed line is an error that
 * names the file and line ("s.tsv:12: odd number of hex digits").
 * Writing is lowercase hex through hex.c's table; reading accepts both
 * cases through the table below.
 */

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcptap.h"

/* Each hex digit's value plus one; 0 for every other byte. */
static const unsigned char hexval[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15,
	['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15,
	['F'] = 16,
};

#define TSV_BUF_MIN	4096

/* Fail at the current line; errno says data (EBADMSG) or system error. */
static int
tsv_fail(struct tsv_reader *r, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
tsv_fail(struct tsv_reader *r, int errnum, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (errnum == EBADMSG)
		(void)snprintf(r->err, sizeof(r->err), "%s:%llu: %s",
		    r->name, (unsigned long long)r->line, what);
	else
		(void)snprintf(r->err, sizeof(r->err), "%s: %s", r->name,
		    what);
	errno = errnum;
	return -1;
}

int
tsv_reader_init(struct tsv_reader *r, FILE *f, const char *name,
    uint64_t max_payload)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->name = name != NULL ? name : "stdin";
	if (max_payload == 0)
		max_payload = FRAME_MAX_DEFAULT;
	r->max_payload = max_payload;
	if (max_payload > (UINT64_MAX - 64) / 2)
		r->line_max = UINT64_MAX;
	else
		r->line_max = 2 * max_payload + 64;
	return 0;
}

void
tsv_reader_free(struct tsv_reader *r)
{
	free(r->buf);
	free(r->payload);
	r->buf = NULL;
	r->payload = NULL;
	r->bufcap = r->paycap = 0;
}

/* Room for one more byte in r->buf, never past line_max. */
static int
tsv_grow(struct tsv_reader *r)
{
	size_t cap = r->bufcap < TSV_BUF_MIN ? TSV_BUF_MIN : r->bufcap;
	char *p;

	if (r->bufcap > 0) {
		if (cap > SIZE_MAX / 2)
			return tsv_fail(r, ENOMEM, "line: %s",
			    strerror(ENOMEM));
		cap *= 2;
	}
	if ((uint64_t)cap > r->line_max)
		cap = (size_t)r->line_max;
	if ((p = realloc(r->buf, cap)) == NULL)
		return tsv_fail(r, errno, "realloc: %s", strerror(errno));
	r->buf = p;
	r->bufcap = cap;
	return 0;
}

/*
 * The next line into r->buf (no '\n'), its length in *len.  1 a line
 * (the last one may lack its '\n'), 0 at EOF, -1 on error.  Reads no
 * byte past the limit: an over-long line is refused while it is read.
 */
static int
tsv_getline(struct tsv_reader *r, size_t *len)
{
	size_t n = 0;
	int c;

	for (;;) {
		c = getc_unlocked(r->f);
		if (c == EOF || c == '\n')
			break;
		if (n == 0)
			r->line++;
		if ((uint64_t)n >= r->line_max)
			return tsv_fail(r, EBADMSG,
			    "line longer than %llu bytes",
			    (unsigned long long)r->line_max);
		if (n == r->bufcap && tsv_grow(r) == -1)
			return -1;
		r->buf[n++] = (char)c;
	}
	if (c == EOF) {
		if (ferror(r->f))
			return tsv_fail(r, errno, "read: %s", strerror(errno));
		if (n == 0)
			return 0;
	} else if (n == 0)
		r->line++;
	*len = n;
	return 1;
}

/* Blank (only spaces and tabs) or a comment: skipped. */
static int
tsv_skip(const char *s, size_t n)
{
	size_t i;

	if (n > 0 && s[0] == '#')
		return 1;
	for (i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t')
			return 0;
	return 1;
}

/* Decimal elapsed time: 1 ok, 0 not digits, -1 overflow. */
static int
tsv_time(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	for (i = 0; i < n; i++) {
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 1;
}

/* Decode n (even) hex digits into r->payload; -1 naming a bad column. */
static int
tsv_unhex(struct tsv_reader *r, const char *h, size_t n, size_t col)
{
	size_t i, need = n / 2;
	unsigned char hi, lo, *p;

	if (need > r->paycap) {
		if ((p = realloc(r->payload, need)) == NULL)
			return tsv_fail(r, errno, "realloc: %s",
			    strerror(errno));
		r->payload = p;
		r->paycap = need;
	}
	for (i = 0; i < n; i += 2) {
		hi = hexval[(unsigned char)h[i]];
		lo = hexval[(unsigned char)h[i + 1]];
		if (hi == 0 || lo == 0)
			return tsv_fail(r, EBADMSG,
			    "non-hex character at column %zu",
			    col + i + (hi == 0 ? 0 : 1));
		r->payload[i / 2] = (unsigned char)((hi - 1) << 4 | (lo - 1));
	}
	return 0;
}

int
tsv_next(struct tsv_reader *r, struct tsv_line *l)
{
	const char *s, *t1, *t2, *end;
	size_t n = 0;
	uint64_t us;
	int rv;

	for (;;) {
		if ((rv = tsv_getline(r, &n)) != 1)
			return rv;
		if (!tsv_skip(r->buf, n))
			break;
	}
	s = r->buf;
	end = s + n;
	if ((t1 = memchr(s, '\t', n)) == NULL ||
	    (t2 = memchr(t1 + 1, '\t', (size_t)(end - t1 - 1))) == NULL)
		return tsv_fail(r, EBADMSG,
		    "missing field: want TIME<tab>DIR<tab>HEX");
	if (memchr(t2 + 1, '\t', (size_t)(end - t2 - 1)) != NULL)
		return tsv_fail(r, EBADMSG, "extra field after the hex payload");
	switch (tsv_time(s, (size_t)(t1 - s), &us)) {
	case 0:
		return tsv_fail(r, EBADMSG, "time is not a decimal number");
	case -1:
		return tsv_fail(r, EBADMSG, "time out of range");
	}
	if (t2 - t1 - 1 != 3 || (memcmp(t1 + 1, "c2s", 3) != 0 &&
	    memcmp(t1 + 1, "s2c", 3) != 0))
		return tsv_fail(r, EBADMSG,
		    "unknown direction: want c2s or s2c");
	if (us < r->last_us)
		return tsv_fail(r, EBADMSG, "time goes back: %llu after %llu",
		    (unsigned long long)us, (unsigned long long)r->last_us);
	n = (size_t)(end - t2 - 1);
	if (n % 2 != 0)
		return tsv_fail(r, EBADMSG, "odd number of hex digits");
	if ((uint64_t)(n / 2) > r->max_payload)
		return tsv_fail(r, EBADMSG,
		    "payload of %zu bytes over the maximum %llu", n / 2,
		    (unsigned long long)r->max_payload);
	if (tsv_unhex(r, t2 + 1, n, (size_t)(t2 + 1 - s) + 1) == -1)
		return -1;
	r->last_us = us;
	l->us = us;
	memcpy(l->dir, t1 + 1, 3);
	l->dir[3] = '\0';
	/* Never NULL, even empty: callers may do pointer arithmetic. */
	l->p = r->payload != NULL ? r->payload : (const unsigned char *)"";
	l->len = n / 2;
	return 1;
}

int
tsv_write_magic(FILE *f)
{
	return fputs(TSV_MAGIC "\n", f) == EOF ? -1 : 0;
}

int
tsv_write_begin(FILE *f, uint64_t us, const char *dir)
{
	return fprintf(f, "%llu\t%s\t", (unsigned long long)us, dir) < 0 ?
	    -1 : 0;
}

int
tsv_write_hex(FILE *f, const unsigned char *p, size_t len)
{
	char hex[8192];
	size_t n;

	while (len > 0) {
		n = len < sizeof(hex) / 2 ? len : sizeof(hex) / 2;
		if (fwrite(hex, 1, hex_encode(hex, p, n), f) != 2 * n)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

int
tsv_write_end(FILE *f)
{
	return putc('\n', f) == EOF ? -1 : 0;
}

int
tsv_write(FILE *f, uint64_t us, const char *dir, const unsigned char *p,
    size_t len)
{
	if (tsv_write_begin(f, us, dir) == -1 ||
	    tsv_write_hex(f, p, len) == -1 || tsv_write_end(f) == -1)
		return -1;
	return 0;
}
