/*
 * Length-prefixed framing, shared by tap-frame (which cuts a byte stream
 * into frames) and tap-replay (which reads and writes framed messages).
 *
 * A frame is len_offset bytes of header (a type byte, a version...), a
 * length field F of hdr_len bytes, big-endian unless little, then
 * F + adjust payload bytes.  Fields up to 16 bytes wide are read byte by
 * byte: any non-zero byte above the low 8 means a length beyond 64 bits,
 * rejected before anything is cast.  A length over max (or negative
 * after the adjust) is an error for that frame; a framer then stops
 * framing its direction for good rather than misread what follows.
 */

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcptap.h"

#define FRAME_BUF_FIRST	(64 * 1024)	/* first allocation for a frame */
#define FRAME_BUF_KEEP	(1024 * 1024)	/* bigger buffers freed after use */

const struct option frame_longopts[] = {
	FRAME_LONGOPTS,
	{ NULL, 0, NULL, 0 }
};

void
frame_spec_init(struct frame_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->hdr_len = 8;
	spec->max = FRAME_MAX_DEFAULT;
}

/* A number in [lo, hi] or an error message "OPT ARG: why". */
static int
frame_num(const char *opt, const char *arg, long long lo, long long hi,
    long long *out, char *err, size_t errlen)
{
	const char *why;

	*out = strtonum(arg, lo, hi, &why);
	if (why == NULL)
		return 0;
	snprintf(err, errlen, "%s %s: %s", opt, arg, why);
	return -1;
}

/*
 * One option from getopt_long: 1 handled, 0 not a framing option, -1 a
 * bad value (err says which and why, e.g. "-H 17: too large").
 */
int
frame_option(struct frame_spec *spec, int ch, const char *arg, char *err,
    size_t errlen)
{
	long long v;

	switch (ch) {
	case 'H':
		if (frame_num("-H", arg, 0, FRAME_LEN_MAX, &v, err,
		    errlen) == -1)
			return -1;
		spec->hdr_len = (int)v;
		return 1;
	case 'm':
		if (frame_num("-m", arg, 0, (long long)FRAME_MAX_LIMIT, &v,
		    err, errlen) == -1)
			return -1;
		spec->max = (uint64_t)v;
		return 1;
	case FRAME_OPT_OFFSET:
		if (frame_num("--length-offset", arg, 0,
		    FRAME_HDR_MAX - FRAME_LEN_MAX, &v, err, errlen) == -1)
			return -1;
		spec->len_offset = (int)v;
		return 1;
	case FRAME_OPT_LITTLE:
		spec->little = 1;
		return 1;
	case FRAME_OPT_INCLUDES:
		spec->includes_header = 1;
		return 1;
	case FRAME_OPT_ADJUST:
		if (frame_num("--adjust", arg, -(long long)FRAME_MAX_LIMIT,
		    (long long)FRAME_MAX_LIMIT, &v, err, errlen) == -1)
			return -1;
		spec->adjust = v;
		spec->adjust_set = 1;
		return 1;
	case FRAME_OPT_KEEP:
		spec->keep_header = 1;
		return 1;
	case FRAME_OPT_SKIP:
		if (frame_num("--skip", arg, 0, LLONG_MAX, &v, err,
		    errlen) == -1)
			return -1;
		spec->skip = (uint64_t)v;
		return 1;
	}
	return 0;
}

/*
 * The options together: 0 fine, -1 with a message.  -H 0 (unframed) is
 * accepted here; a program that needs a length field checks hdr_len.
 */
int
frame_spec_check(const struct frame_spec *spec, char *err, size_t errlen)
{
	if (spec->hdr_len < 0 || spec->hdr_len > FRAME_LEN_MAX) {
		snprintf(err, errlen, "-H %d: not 0..%d", spec->hdr_len,
		    FRAME_LEN_MAX);
		return -1;
	}
	if (spec->len_offset < 0 ||
	    spec->len_offset + spec->hdr_len > FRAME_HDR_MAX) {
		snprintf(err, errlen, "--length-offset %d: the header is at "
		    "most %d bytes", spec->len_offset, FRAME_HDR_MAX);
		return -1;
	}
	if (spec->max > FRAME_MAX_LIMIT) {
		snprintf(err, errlen, "-m %" PRIu64 ": too large", spec->max);
		return -1;
	}
	if (spec->includes_header && spec->adjust_set) {
		snprintf(err, errlen, "--length-includes-header and --adjust "
		    "exclude each other");
		return -1;
	}
	if (spec->hdr_len == 0 && (spec->len_offset != 0 || spec->little ||
	    spec->includes_header || spec->adjust_set ||
	    spec->keep_header)) {
		snprintf(err, errlen, "-H 0: unframed, no other framing "
		    "option applies");
		return -1;
	}
	return 0;
}

/* Header bytes before the payload: 0 when unframed (-H 0). */
size_t
frame_hdr_size(const struct frame_spec *spec)
{
	if (spec->hdr_len == 0)
		return 0;
	return (size_t)spec->len_offset + (size_t)spec->hdr_len;
}

/* payload = field + this */
long long
frame_adjust(const struct frame_spec *spec)
{
	if (spec->includes_header)
		return -(long long)frame_hdr_size(spec);
	return spec->adjust;
}

/*
 * The length field: 1 and *field if it fits 64 bits, 0 if a byte above
 * the low 8 is non-zero (*field UINT64_MAX).
 */
static int
frame_field(const struct frame_spec *spec, const unsigned char *hdr,
    uint64_t *field)
{
	const unsigned char *f = hdr + spec->len_offset;
	int n = spec->hdr_len, i, b;
	uint64_t v = 0;

	for (i = 0; i < n; i++) {
		/* i counts from the most significant byte */
		b = spec->little ? f[n - 1 - i] : f[i];
		if (n - i > 8 && b != 0) {
			*field = UINT64_MAX;
			return 0;
		}
		v = v << 8 | (uint64_t)b;
	}
	*field = v;
	return 1;
}

/*
 * hdr has frame_hdr_size bytes.  0 and *len the payload length; -1 if
 * it is over max or negative, *len then the announced payload length
 * (UINT64_MAX beyond 64 bits, 0 if negative).
 */
int
frame_decode(const struct frame_spec *spec, const unsigned char *hdr,
    uint64_t *len)
{
	long long adj = frame_adjust(spec);
	uint64_t field, mag;

	if (!frame_field(spec, hdr, &field)) {
		*len = UINT64_MAX;
		return -1;
	}
	if (adj >= 0) {
		if (field > UINT64_MAX - (uint64_t)adj) {
			*len = UINT64_MAX;
			return -1;
		}
		*len = field + (uint64_t)adj;
	} else {
		mag = (uint64_t)(-(adj + 1)) + 1;
		if (field < mag) {
			*len = 0;
			return -1;
		}
		*len = field - mag;
	}
	return *len > spec->max ? -1 : 0;
}

/*
 * Why frame_decode rejected hdr, for a message: "frame of N bytes over
 * the maximum M" and the like.
 */
void
frame_explain(const struct frame_spec *spec, const unsigned char *hdr,
    char *out, size_t outlen)
{
	const unsigned char *f = hdr + spec->len_offset;
	char hex[2 * FRAME_LEN_MAX + 1];
	long long adj = frame_adjust(spec);
	uint64_t field, len;
	int i, n = spec->hdr_len;

	if (!frame_field(spec, hdr, &field)) {
		for (i = 0; i < n; i++)
			snprintf(hex + 2 * i, 3, "%02x",
			    spec->little ? f[n - 1 - i] : f[i]);
		snprintf(out, outlen, "frame length field 0x%s (over 64 "
		    "bits) over the maximum %" PRIu64, hex, spec->max);
		return;
	}
	if (frame_decode(spec, hdr, &len) == 0)
		snprintf(out, outlen, "frame of %" PRIu64 " bytes", len);
	else if (adj == 0)
		snprintf(out, outlen, "frame of %" PRIu64 " bytes over the "
		    "maximum %" PRIu64, field, spec->max);
	else if (adj < 0 && len == 0)
		snprintf(out, outlen, "frame length field %" PRIu64 " with "
		    "adjust %lld: a negative payload", field, adj);
	else if (len == UINT64_MAX)
		snprintf(out, outlen, "frame length field %" PRIu64 " plus "
		    "%lld over the maximum %" PRIu64, field, adj, spec->max);
	else
		snprintf(out, outlen, "frame of %" PRIu64 " bytes (length "
		    "field %" PRIu64 ") over the maximum %" PRIu64, len, field,
		    spec->max);
}

/*
 * The header for a payload of len bytes into hdr (frame_hdr_size bytes):
 * the len_offset bytes before the field are zeroed (fill them after the
 * call), then the field.  -1 if the field cannot hold the length (or the
 * adjust makes it negative).
 */
int
frame_encode(const struct frame_spec *spec, uint64_t len,
    unsigned char *hdr)
{
	long long adj = frame_adjust(spec);
	unsigned char *f = hdr + spec->len_offset;
	uint64_t field, mag;
	int n = spec->hdr_len, i;

	if (n == 0)
		return 0;
	if (adj > 0) {
		if (len < (uint64_t)adj)
			return -1;
		field = len - (uint64_t)adj;
	} else {
		mag = adj == 0 ? 0 : (uint64_t)(-(adj + 1)) + 1;
		if (len > UINT64_MAX - mag)
			return -1;
		field = len + mag;
	}
	if (n < 8 && field >> (8 * n) != 0)
		return -1;
	memset(hdr, 0, (size_t)spec->len_offset);
	for (i = 0; i < n; i++) {
		/* byte i from the least significant */
		unsigned char b = i < 8 ? (unsigned char)(field >> (8 * i)) : 0;

		if (spec->little)
			f[i] = b;
		else
			f[n - 1 - i] = b;
	}
	return 0;
}

void
framer_init(struct framer *fr, const struct frame_spec *spec)
{
	memset(fr, 0, sizeof(*fr));
	fr->spec = spec;
	fr->skip_left = spec->skip;
}

/* Room for at least want bytes in fr->buf, never more than total. */
static int
framer_grow(struct framer *fr, size_t want, size_t total)
{
	size_t cap = fr->cap ? fr->cap : FRAME_BUF_FIRST;
	unsigned char *p;

	if (fr->cap >= want)
		return 0;
	while (cap < want && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap < want)
		cap = want;
	if (cap > total)
		cap = total;
	if ((p = realloc(fr->buf, cap)) == NULL)
		return -1;
	fr->buf = p;
	fr->cap = cap;
	return 0;
}

/* The current frame is done: forget it, keep a small buffer. */
static void
framer_next(struct framer *fr)
{
	fr->hdr_have = 0;
	fr->have = 0;
	fr->need = 0;
	if (fr->cap > FRAME_BUF_KEEP) {
		free(fr->buf);
		fr->buf = NULL;
		fr->cap = 0;
	}
}

/*
 * Feed n bytes of one direction.  Calls emit for the --skip prefix and
 * for each whole frame.  Returns 0; -1 once when a frame announces a
 * length over the maximum (fr->off and fr->bad_len set, fr->hdr still
 * holds the header for frame_explain; the direction's later bytes are
 * dropped, and feed returns 0); -2 if emit failed or memory ran out
 * (errno set).
 */
int
framer_feed(struct framer *fr, const unsigned char *p, size_t n,
    frame_emit emit, void *arg)
{
	const struct frame_spec *spec = fr->spec;
	size_t hsize = frame_hdr_size(spec), keep, k, total;
	const unsigned char *hstart;
	uint64_t len;

	if (fr->off)
		return 0;
	if (fr->skip_left > 0 || hsize == 0) {
		k = n;
		if (hsize != 0 && k > fr->skip_left)
			k = (size_t)fr->skip_left;
		if (k > 0) {
			if (fr->skip_left >= k)
				fr->skip_left -= k;
			if (emit(arg, p, k, 1) != 0)
				return -2;
		}
		p += k;
		n -= k;
	}
	keep = spec->keep_header ? hsize : 0;
	while (n > 0) {
		/* The header, where it starts in p if it does. */
		hstart = fr->hdr_have == 0 ? p : NULL;
		if (fr->hdr_have < hsize) {
			k = hsize - fr->hdr_have;
			if (k > n)
				k = n;
			memcpy(fr->hdr + fr->hdr_have, p, k);
			fr->hdr_have += k;
			p += k;
			n -= k;
			if (fr->hdr_have < hsize)
				return 0;
			/* (len <= max <= 2^32: it fits a size_t) */
			if (frame_decode(spec, fr->hdr, &len) == -1 ||
			    len > SIZE_MAX - hsize) {
				fr->off = 1;
				fr->bad_len = len;
				framer_next(fr);
				return -1;
			}
			fr->need = len;
			/* Whole in p (with its header if kept): no copy. */
			if (fr->need <= n && (keep == 0 || hstart != NULL)) {
				if (emit(arg, keep ? hstart : p,
				    keep + (size_t)fr->need, 0) != 0)
					return -2;
				p += fr->need;
				n -= (size_t)fr->need;
				framer_next(fr);
				continue;
			}
			if (keep > 0) {
				if (framer_grow(fr, keep, keep +
				    (size_t)fr->need) == -1)
					return -2;
				memcpy(fr->buf, fr->hdr, keep);
				fr->have = keep;
			}
		}
		/* Payload: max is at most 2^32, so need fits size_t. */
		total = keep + (size_t)fr->need;
		k = total - fr->have;
		if (k > n)
			k = n;
		if (k > 0) {
			if (framer_grow(fr, fr->have + k, total) == -1)
				return -2;
			memcpy(fr->buf + fr->have, p, k);
			fr->have += k;
			p += k;
			n -= k;
		}
		if (fr->have < total)
			return 0;
		if (emit(arg, fr->buf != NULL ? fr->buf : fr->hdr, total,
		    0) != 0)
			return -2;
		framer_next(fr);
	}
	return 0;
}

/* Bytes held of an incomplete frame (0 when off). */
size_t
framer_pending(const struct framer *fr)
{
	if (fr->off)
		return 0;
	/* With --keep-header, buf starts with a copy of the header. */
	if (fr->spec->keep_header && fr->have > 0)
		return fr->have;
	return fr->hdr_have + fr->have;
}

/*
 * Drop the partial frame: the next byte starts a header.  A direction
 * that is off stays off, and a --skip prefix still being passed goes on.
 */
void
framer_reset(struct framer *fr)
{
	framer_next(fr);
}

void
framer_free(struct framer *fr)
{
	free(fr->buf);
	fr->buf = NULL;
	fr->cap = fr->have = 0;
}
