/*
 * The tap stream (DESIGN.md): records of a 64-byte header line
 *	tap1 KIND SID UNIX_US DIR LEN<spaces>\n
 * then LEN payload bytes.  The fixed width lets a reader take exactly
 * the header and splice the payload.
 */

#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* Format a header into out[TAP_HDR]; -1 if the fields do not fit. */
int
tap_header(char *out, const char *kind, const char *sid, uint64_t us,
    const char *dir, uint64_t len)
{
	int n;

	if (len > TAP_LEN_MAX)
		return -1;
	n = snprintf(out, TAP_HDR, "tap1 %s %s %llu %s %llu", kind, sid,
	    (unsigned long long)us, dir, (unsigned long long)len);
	if (n < 0 || n > TAP_HDR - 1)
		return -1;
	memset(out + n, ' ', (size_t)(TAP_HDR - 1 - n));
	out[TAP_HDR - 1] = '\n';
	return 0;
}

/* One whole record to a blocking fd, in one writev where it can. */
int
tap_write(int fd, const char *kind, const char *sid, uint64_t us,
    const char *dir, const void *payload, size_t len)
{
	char hdr[TAP_HDR];
	struct iovec iov[2];
	ssize_t n;
	int cnt = 2;

	if (tap_header(hdr, kind, sid, us, dir, len) == -1) {
		errno = EINVAL;
		return -1;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	while (cnt > 0) {
		if ((n = writev(fd, iov + 2 - cnt, cnt)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)n >= iov[2 - cnt].iov_len) {
			n -= (ssize_t)iov[2 - cnt].iov_len;
			cnt--;
		}
		if (cnt > 0) {
			iov[2 - cnt].iov_base = (char *)iov[2 - cnt].iov_base + n;
			iov[2 - cnt].iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* The reader follows. */

/*
 * A reader takes a stream apart record by record and never guesses: a
 * header that is not exactly the format is an error that names the
 * record.  On -1, r->err says why and errno tells the caller which exit
 * status fits: EBADMSG for bad input data, anything else for a failed
 * system call.  Includes are here to keep the writer above untouched.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>

#define TAP_BUFSZ	(64 * 1024)

/* Fail with a message; errno says data (EBADMSG) or system error. */
static int
rd_fail(struct tap_reader *r, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
rd_fail(struct tap_reader *r, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	errno = errnum;
	return -1;
}

static int
rd_syserr(struct tap_reader *r, const char *what)
{
	int e = errno;

	return rd_fail(r, e, "%s: %s: %s", r->name, what, strerror(e));
}

int
tap_reader_init(struct tap_reader *r, int fd, const char *name,
    int unbuffered)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	r->name = name != NULL ? name : "stdin";
	r->unbuffered = unbuffered;
	/* Unbuffered readers use the buffer only to discard payload. */
	r->bufsz = TAP_BUFSZ;
	if ((r->buf = malloc(r->bufsz)) == NULL)
		return rd_syserr(r, "malloc");
	return 0;
}

void
tap_reader_free(struct tap_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->off = r->end = r->bufsz = 0;
}

/* read(2) that retries EINTR. */
static ssize_t
rd_read(int fd, void *buf, size_t n)
{
	ssize_t got;

	while ((got = read(fd, buf, n)) == -1 && errno == EINTR)
		;
	return got;
}

/*
 * Get the 64 header bytes into r->buf[r->off..].  Returns 1, 0 at EOF
 * before any byte (a clean end), -1 on error.
 */
static int
rd_header_bytes(struct tap_reader *r, uint64_t recno)
{
	size_t have = r->end - r->off;
	ssize_t got;

	if (have >= TAP_HDR)
		return 1;
	/* Move the remainder to the front so the header is contiguous. */
	memmove(r->buf, r->buf + r->off, have);
	r->off = 0;
	r->end = have;
	while (r->end < TAP_HDR) {
		/* Unbuffered: never read a byte past the header. */
		got = rd_read(r->fd, r->buf + r->end,
		    r->unbuffered ? TAP_HDR - r->end : r->bufsz - r->end);
		if (got == -1)
			return rd_syserr(r, "read");
		if (got == 0) {
			if (r->end == 0)
				return 0;
			return rd_fail(r, EBADMSG,
			    "record %llu: truncated header (%zu of %d bytes)",
			    (unsigned long long)recno, r->end, TAP_HDR);
		}
		r->end += (size_t)got;
	}
	return 1;
}

/*
 * Take one space-separated field starting at *p: its start and length,
 * *p moved past the single space that ends it (or to the padding).
 */
static size_t
rd_field(const char **p, const char *end, const char **start)
{
	const char *s = *p;

	*start = s;
	while (s < end && *s != ' ')
		s++;
	*p = s < end ? s + 1 : s;
	return (size_t)(s - *start);
}

static int
all_in(const char *s, size_t n, const char *set)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] == '\0' || strchr(set, s[i]) == NULL)
			return 0;
	return 1;
}

/* Decimal digits to uint64, 0 on overflow or a non-digit. */
static int
rd_u64(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 1;
}

#define LOWER	"abcdefghijklmnopqrstuvwxyz"
#define SIDCHR	"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" LOWER "._-"

/* Validate and split h[TAP_HDR]; NULL or the name of the bad field. */
static const char *
rd_parse(const char *h, struct tap_rec *rec)
{
	const char *p = h, *end = h + TAP_HDR - 1, *f;
	size_t n;

	if (memcmp(h, "tap1 ", 5) != 0)
		return "not tap1";
	if (h[TAP_HDR - 1] != '\n')
		return "no newline at byte 64";
	p += 5;
	n = rd_field(&p, end, &f);
	if (n < 1 || n > TAP_KIND_MAX || !all_in(f, n, LOWER))
		return "KIND";
	memcpy(rec->kind, f, n);
	rec->kind[n] = '\0';
	n = rd_field(&p, end, &f);
	if (n < 1 || n > SID_MAX || !all_in(f, n, SIDCHR))
		return "SID";
	memcpy(rec->sid, f, n);
	rec->sid[n] = '\0';
	n = rd_field(&p, end, &f);
	if (n < 1 || n > 20 || !rd_u64(f, n, &rec->us))
		return "UNIX_US";
	n = rd_field(&p, end, &f);
	if (!((n == 3 && (memcmp(f, "c2s", 3) == 0 ||
	    memcmp(f, "s2c", 3) == 0)) || (n == 1 && *f == '-')))
		return "DIR";
	memcpy(rec->dir, f, n);
	rec->dir[n] = '\0';
	n = rd_field(&p, end, &f);
	if (n < 1 || n > 11 || (n > 1 && *f == '0') ||
	    !rd_u64(f, n, &rec->len))
		return "LEN";
	/* The field ended at a space or at byte 63: spaces to the end. */
	if (f + n < end && !all_in(f + n, (size_t)(end - f - n), " "))
		return "padding";
	return NULL;
}

/* Parse one 64-byte header; NULL, or the name of what is wrong. */
const char *
tap_parse(const char *hdr, struct tap_rec *rec)
{
	return rd_parse(hdr, rec);
}

int
tap_next(struct tap_reader *r, struct tap_rec *rec)
{
	uint64_t recno = r->recno + 1;
	const char *bad;
	int rv;

	if (r->left > 0 && tap_skip(r) == -1)
		return -1;
	if ((rv = rd_header_bytes(r, recno)) != 1)
		return rv;
	if ((bad = rd_parse(r->buf + r->off, rec)) != NULL)
		return rd_fail(r, EBADMSG, "record %llu: bad header (%s)",
		    (unsigned long long)recno, bad);
	r->off += TAP_HDR;
	r->recno = recno;
	r->left = rec->len;
	return 1;
}

static int
rd_truncated(struct tap_reader *r)
{
	return rd_fail(r, EBADMSG,
	    "record %llu: truncated payload, %llu bytes missing",
	    (unsigned long long)r->recno, (unsigned long long)r->left);
}

ssize_t
tap_payload(struct tap_reader *r, void *buf, size_t n)
{
	ssize_t got;

	if (n > r->left)
		n = (size_t)r->left;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (n == 0)
		return 0;
	if (r->off < r->end) {
		if (n > r->end - r->off)
			n = r->end - r->off;
		memcpy(buf, r->buf + r->off, n);
		r->off += n;
		r->left -= n;
		return (ssize_t)n;
	}
	/*
	 * Nothing buffered.  Read big requests straight into the caller's
	 * buffer, small ones through ours to save read(2)s; unbuffered
	 * readers never read past the payload either way.
	 */
	if (r->unbuffered || n >= r->bufsz) {
		if ((got = rd_read(r->fd, buf, n)) == -1)
			return rd_syserr(r, "read");
		if (got == 0)
			return rd_truncated(r);
		r->left -= (size_t)got;
		return got;
	}
	if ((got = rd_read(r->fd, r->buf, r->bufsz)) == -1)
		return rd_syserr(r, "read");
	if (got == 0)
		return rd_truncated(r);
	r->off = 0;
	r->end = (size_t)got;
	return tap_payload(r, buf, n);
}

/*
 * Move up to n payload bytes to fd out with splice(2), no copy through
 * user space.  One of r->fd and out must be a pipe, and nothing may be
 * buffered (use an unbuffered reader).  -1 with errno EINVAL means this
 * pair cannot splice and nothing moved: fall back to tap_payload.
 */
ssize_t
tap_splice(struct tap_reader *r, int out, size_t n)
{
	ssize_t got;

	if (n > r->left)
		n = (size_t)r->left;
	if (n == 0)
		return 0;
	if (r->off < r->end)
		return rd_fail(r, EINVAL, "%s: splice: data buffered",
		    r->name);
	while ((got = splice(r->fd, NULL, out, NULL, n, 0)) == -1 &&
	    errno == EINTR)
		;
	if (got == -1)
		return rd_fail(r, errno, "splice: %s", strerror(errno));
	if (got == 0)
		return rd_truncated(r);
	r->left -= (size_t)got;
	return got;
}

int
tap_skip(struct tap_reader *r)
{
	ssize_t got;
	size_t n;

	while (r->left > 0) {
		if (r->off < r->end) {
			n = r->end - r->off;
			if (n > r->left)
				n = (size_t)r->left;
			r->off += n;
			r->left -= n;
			continue;
		}
		n = r->bufsz;
		if (r->unbuffered && n > r->left)
			n = (size_t)r->left;
		if ((got = rd_read(r->fd, r->buf, n)) == -1)
			return rd_syserr(r, "read");
		if (got == 0)
			return rd_truncated(r);
		r->off = 0;
		r->end = (size_t)got;
	}
	return 0;
}

/*
 * Find "key=value\n" in an open, close or gap payload; copy the value
 * (truncated to fit, NUL-terminated).  1 found, 0 not.
 */
int
tap_kv(const char *p, size_t len, const char *key, char *out,
    size_t outlen)
{
	const char *end = p + len, *nl, *v;
	size_t klen = strlen(key), vlen;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((size_t)(nl - p) <= klen || memcmp(p, key, klen) != 0 ||
		    p[klen] != '=')
			continue;
		v = p + klen + 1;
		vlen = (size_t)(nl - v);
		if (outlen > 0) {
			if (vlen > outlen - 1)
				vlen = outlen - 1;
			memcpy(out, v, vlen);
			out[vlen] = '\0';
		}
		return 1;
	}
	return 0;
}

/* A session id as DESIGN.md has it: [0-9A-Za-z._-], 1 to SID_MAX. */
int
tap_sid_valid(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= SID_MAX && strspn(s,
	    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "._-") == n;
}

/* The session table follows: what the filters remember per SID. */

#include <err.h>

#define TS_FIRST	16	/* elements in the first allocation */

void
tap_sessions_init(struct tap_sessions *t, size_t size, size_t max,
    void (*evict)(void *))
{
	memset(t, 0, sizeof(*t));
	t->size = size;
	t->max = max;
	t->evict = evict;
}

static char *
ts_at(const struct tap_sessions *t, size_t i)
{
	return t->v + i * t->size;
}

/* Newest first: a stream mostly talks about recent sessions. */
void *
tap_sessions_find(const struct tap_sessions *t, const char *sid)
{
	size_t i;

	for (i = t->n; i > 0; i--)
		if (strcmp(ts_at(t, i - 1), sid) == 0)
			return ts_at(t, i - 1);
	return NULL;
}

void *
tap_sessions_add(struct tap_sessions *t, const char *sid)
{
	char *e;
	size_t cap;

	if (t->max > 0 && t->n == t->max) {
		if (t->evict != NULL)
			t->evict(t->v);
		tap_sessions_forget(t, t->v);
	}
	if (t->n == t->cap) {
		cap = t->cap ? 2 * t->cap : TS_FIRST;
		if (t->max > 0 && cap > t->max)
			cap = t->max;
		if ((e = reallocarray(t->v, cap, t->size)) == NULL)
			err(EXIT_SYS, "reallocarray");
		t->v = e;
		t->cap = cap;
	}
	e = ts_at(t, t->n++);
	memset(e, 0, t->size);
	(void)strlcpy(e, sid, SID_MAX + 1);
	return e;
}

void
tap_sessions_forget(struct tap_sessions *t, void *elem)
{
	char *e = elem;
	size_t i = (size_t)(e - t->v) / t->size;

	t->n--;
	/* A bounded table evicts its oldest: keep the order of adding. */
	if (t->max > 0)
		memmove(e, e + t->size, (t->n - i) * t->size);
	else if (i < t->n)
		memcpy(e, ts_at(t, t->n), t->size);
}

/* Forgetting the last element moves no other: a loop can empty it. */
void *
tap_sessions_last(const struct tap_sessions *t)
{
	return t->n > 0 ? ts_at(t, t->n - 1) : NULL;
}

void
tap_sessions_free(struct tap_sessions *t)
{
	free(t->v);
	t->v = NULL;
	t->n = t->cap = 0;
}
