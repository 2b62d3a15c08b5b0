/*
 * Length-prefixed framing (src/frame.c), as tap-frame uses it: the
 * options through frame_option (as strings, like the command line) and
 * frame_spec_check, then two framers (c2s, s2c) fed the stream in
 * chunks, with framer_reset between some (a gap record), plus
 * frame_decode / frame_explain / frame_encode.
 *
 * Input: 12 control bytes choose -H, --length-offset, --little-endian,
 * --length-includes-header, --adjust, --keep-header, --skip and -m;
 * then chunks of [ctl][len][len bytes]: ctl bit 0 the direction, bit 1
 * a framer_reset first.
 *
 * Invariants: every whole frame emitted has the length its header
 * announced (plus the header with --keep-header, which then decodes to
 * the same length); the bytes emitted plus those pending plus those
 * after an over-long frame add up to the bytes fed; frame_encode's
 * header decodes back to its length.
 */
#include <errno.h>
#include <string.h>

#include "tcptap.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct sink {
	const struct frame_spec	*spec;
	uint64_t		 emitted;	/* bytes of whole frames and prefix */
	uint64_t		 frames;
	unsigned		 sum;		/* touch every byte */
};

static int
emit(void *arg, const unsigned char *p, size_t n, int unframed)
{
	struct sink *s = arg;
	size_t hs = frame_hdr_size(s->spec), i;
	uint64_t len;

	for (i = 0; i < n; i++)
		s->sum += p[i];
	s->emitted += n;
	if (unframed)
		return 0;
	s->frames++;
	FZ_ASSERT(hs > 0);
	if (s->spec->keep_header) {
		FZ_ASSERT(n >= hs);
		FZ_ASSERT(frame_decode(s->spec, p, &len) == 0);
		FZ_ASSERT(len == n - hs);
	}
	FZ_ASSERT(n <= (s->spec->keep_header ? hs : 0) + s->spec->max);
	return 0;
}

static const uint64_t maxes[] = {
	0, 1, 2, 16, 255, 256, 65535, 65536, 1048576, FRAME_MAX_DEFAULT,
	FRAME_MAX_LIMIT, FRAME_MAX_LIMIT + 1
};
static const long long adjusts[] = {
	0, 1, -1, 2, -2, 4, -4, 8, -8, 100, -100, 4294967296LL,
	-4294967296LL, 4294967297LL, -9223372036854775807LL - 1,
	9223372036854775807LL
};

static int
opt(struct frame_spec *spec, int ch, const char *fmt, long long v)
{
	char arg[64], err[256];

	snprintf(arg, sizeof(arg), fmt, v);
	return frame_option(spec, ch, arg, err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_spec spec;
	struct framer fr[2];
	struct sink sink;
	struct fz z = { data, size };
	unsigned char hdr[FRAME_HDR_MAX], hdr2[FRAME_HDR_MAX];
	char err[256], why[256];
	const unsigned char *p;
	uint64_t fed[2] = { 0, 0 }, dropped[2] = { 0, 0 }, len, len2, elen;
	size_t n, hs;
	uint8_t b[12], ctl;
	int i, d, rv, off_seen[2] = { 0, 0 };

	if (size < sizeof(b))
		return 0;
	for (i = 0; i < (int)sizeof(b); i++)
		b[i] = fz_u8(&z);
	frame_spec_init(&spec);
	if (opt(&spec, 'H', "%lld", b[0] % 18) == -1)
		return 0;
	if (b[1] & 1 && opt(&spec, FRAME_OPT_OFFSET, "%lld",
	    (b[1] >> 1) % 52) == -1)
		return 0;
	if (b[2] & 1)
		(void)opt(&spec, FRAME_OPT_LITTLE, "", 0);
	if (b[2] & 2)
		(void)opt(&spec, FRAME_OPT_INCLUDES, "", 0);
	if (b[2] & 4 && opt(&spec, FRAME_OPT_ADJUST, "%lld", (b[2] & 8) ?
	    adjusts[b[3] % 16] : (long long)(int8_t)b[3]) == -1)
		return 0;
	if (b[2] & 16)
		(void)opt(&spec, FRAME_OPT_KEEP, "", 0);
	if (b[2] & 32 && opt(&spec, FRAME_OPT_SKIP, "%lld", (b[2] & 64) ?
	    (long long)b[4] << 24 : b[4]) == -1)
		return 0;
	if (b[5] & 1 && opt(&spec, 'm', "%lld", (b[5] & 2) ?
	    (long long)maxes[(b[5] >> 2) % 12] : (long long)b[6]) == -1)
		return 0;
	if (frame_spec_check(&spec, err, sizeof(err)) == -1)
		return 0;
	hs = frame_hdr_size(&spec);
	FZ_ASSERT(hs <= FRAME_HDR_MAX);

	/* The codec alone: a header of the next bytes, and a length. */
	if (hs > 0 && z.n >= hs) {
		rv = frame_decode(&spec, z.p, &len);
		frame_explain(&spec, z.p, why, sizeof(why));
		if (rv == 0) {
			FZ_ASSERT(len <= spec.max);
			memcpy(hdr, z.p, hs);
			FZ_ASSERT(frame_encode(&spec, len, hdr) == 0);
			FZ_ASSERT(frame_decode(&spec, hdr, &len2) == 0);
			FZ_ASSERT(len2 == len);
		}
	}
	elen = (uint64_t)b[7] << 24 | (uint64_t)b[8] << 16 | b[9] << 8 | b[10];
	if (b[11] & 1)
		elen <<= 32;
	if (hs > 0 && frame_encode(&spec, elen, hdr2) == 0) {
		rv = frame_decode(&spec, hdr2, &len2);
		FZ_ASSERT(rv == -1 || len2 == elen);
		if (elen <= spec.max)
			FZ_ASSERT(rv == 0);
	}

	memset(&sink, 0, sizeof(sink));
	sink.spec = &spec;
	framer_init(&fr[0], &spec);
	framer_init(&fr[1], &spec);
	while (z.n > 0) {
		ctl = fz_u8(&z);
		d = ctl & 1;
		if (ctl & 2) {
			/* A reset drops the partial frame: count it fed-out. */
			dropped[d] += framer_pending(&fr[d]);
			framer_reset(&fr[d]);
			FZ_ASSERT(framer_pending(&fr[d]) == 0);
		}
		p = fz_bytes(&z, fz_u8(&z), &n);
		if (fr[d].off) {
			dropped[d] += n;
			(void)framer_feed(&fr[d], p, n, emit, &sink);
			continue;
		}
		fed[d] += n;
		rv = framer_feed(&fr[d], p, n, emit, &sink);
		FZ_ASSERT(rv == 0 || rv == -1);
		if (rv == -1) {
			FZ_ASSERT(fr[d].off && !off_seen[d]);
			off_seen[d] = 1;
			frame_explain(&spec, fr[d].hdr, why, sizeof(why));
			FZ_ASSERT(framer_pending(&fr[d]) == 0);
		}
	}
	/*
	 * Conservation: what was fed is emitted, pending, dropped by a
	 * reset, or lost to an over-long frame (then it is off).
	 */
	if (!fr[0].off && !fr[1].off)
		FZ_ASSERT(fed[0] + fed[1] == sink.emitted +
		    framer_pending(&fr[0]) + framer_pending(&fr[1]) +
		    dropped[0] + dropped[1] +
		    (spec.keep_header ? 0 : sink.frames * hs));
	framer_free(&fr[0]);
	framer_free(&fr[1]);
	return 0;
}
