/*
 * The tap-stream reader (src/tapstream.c): tap_reader_init, tap_next,
 * tap_payload, tap_skip, tap_kv and tap_parse, buffered and unbuffered.
 *
 * Input: 8 control bytes, then the stream.  The reader's read(2) is
 * replaced (this file includes tapstream.c with read renamed) by one
 * that serves the stream from memory in chunks the control bytes choose
 * (whole, 1 byte, small, large), so short reads, headers split across
 * reads and EIO in the middle are all reached deterministically.
 *
 * Invariants: every header the reader accepts re-formats with
 * tap_header into a header that tap_parse reads back to the same
 * fields; tap_payload never returns more than asked or than announced;
 * the reader never reads past a header in unbuffered mode.
 */
#undef _FORTIFY_SOURCE
#define read fuzz_read
#include "../../src/tapstream.c"
#undef read

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct {
	const uint8_t	*p;
	size_t		 n, off;
	int		 mode;		/* chunking */
	uint32_t	 seed;
	size_t		 eio_at;	/* fail with EIO once past this, 0: never */
	int		 unbuffered;
	size_t		 hdr_pos;	/* unbuffered: offset of the next header */
} in;

ssize_t fuzz_read(int, void *, size_t);

ssize_t
fuzz_read(int fd, void *buf, size_t n)
{
	size_t k;

	(void)fd;
	if (in.eio_at != 0 && in.off >= in.eio_at) {
		in.eio_at = 0;
		errno = EIO;
		return -1;
	}
	if (fz_rand(&in.seed) % 8 == 0) {
		errno = EINTR;		/* rd_read must retry */
		return -1;
	}
	k = in.n - in.off;
	if (k > n)
		k = n;
	switch (in.mode) {
	case 1:
		if (k > 1)
			k = 1;
		break;
	case 2:
		if (k > 0)
			k = 1 + fz_rand(&in.seed) % (k < 97 ? k : 97);
		break;
	case 3:
		if (k > 0)
			k = 1 + fz_rand(&in.seed) % k;
		break;
	}
	memcpy(buf, in.p + in.off, k);
	in.off += k;
	return (ssize_t)k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tap_reader r;
	struct tap_rec rec, rec2;
	struct fz z = { data, size };
	static unsigned char pay[70000];
	char hdr[TAP_HDR], val[64];
	uint8_t flags;
	uint32_t act;
	ssize_t got;
	size_t want, vlen;
	int rv, recs;

	if (size < 8)
		return 0;
	flags = fz_u8(&z);
	memset(&in, 0, sizeof(in));
	in.mode = flags & 3;
	in.unbuffered = (flags >> 2) & 1;
	in.seed = fz_u32(&z);
	vlen = fz_u8(&z) % sizeof(val);
	act = fz_u8(&z);
	act = act << 8 | fz_u8(&z);
	in.p = z.p;
	in.n = z.n;
	if (flags & 0x80)
		in.eio_at = 1 + act % (in.n + 1);
	act |= 1;

	/* The header parser alone, on the first 64 bytes. */
	if (in.n >= TAP_HDR && tap_parse((const char *)in.p, &rec) == NULL) {
		FZ_ASSERT(tap_header(hdr, rec.kind, rec.sid, rec.us, rec.dir,
		    rec.len) == 0);
		FZ_ASSERT(tap_parse(hdr, &rec2) == NULL);
		FZ_ASSERT(memcmp(&rec, &rec2, sizeof(rec)) == 0 ||
		    (strcmp(rec.kind, rec2.kind) == 0 &&
		    strcmp(rec.sid, rec2.sid) == 0 && rec.us == rec2.us &&
		    strcmp(rec.dir, rec2.dir) == 0 && rec.len == rec2.len));
	}

	if (tap_reader_init(&r, 0, "fuzz", in.unbuffered) == -1)
		return 0;
	for (recs = 0; recs < 100000; recs++) {
		memset(&rec, 0xa5, sizeof(rec));
		if ((rv = tap_next(&r, &rec)) != 1) {
			FZ_ASSERT(rv == 0 || rv == -1);
			if (rv == -1)
				FZ_ASSERT(r.err[0] != '\0');
			break;
		}
		FZ_ASSERT(r.recno == (uint64_t)recs + 1);
		FZ_ASSERT(rec.len <= TAP_LEN_MAX);
		FZ_ASSERT(r.left == rec.len);
		/* An unbuffered reader holds nothing past the header. */
		if (in.unbuffered)
			FZ_ASSERT(r.off == r.end);
		FZ_ASSERT(tap_header(hdr, rec.kind, rec.sid, rec.us, rec.dir,
		    rec.len) == 0);
		FZ_ASSERT(tap_parse(hdr, &rec2) == NULL);
		FZ_ASSERT(strcmp(rec.kind, rec2.kind) == 0 &&
		    strcmp(rec.sid, rec2.sid) == 0 && rec.us == rec2.us &&
		    strcmp(rec.dir, rec2.dir) == 0 && rec.len == rec2.len);

		switch (fz_rand(&act) % 4) {
		case 0:		/* leave the payload to tap_next */
			continue;
		case 1:		/* skip it */
			if (tap_skip(&r) == -1)
				goto out;
			FZ_ASSERT(r.left == 0);
			continue;
		default:	/* read it in pieces */
			break;
		}
		want = rec.len;
		while (r.left > 0) {
			size_t ask = 1 + fz_rand(&act) % sizeof(pay);
			uint64_t before = r.left;

			got = tap_payload(&r, pay, ask);
			if (got == -1)
				goto out;
			FZ_ASSERT(got > 0 && (size_t)got <= ask &&
			    (uint64_t)got <= before);
			FZ_ASSERT(r.left == before - (uint64_t)got);
			if (want <= sizeof(pay) && got == (ssize_t)want &&
			    before == want) {
				/* A whole small payload in one piece. */
				(void)tap_kv((const char *)pay, (size_t)got,
				    "client", val, vlen);
				(void)tap_kv((const char *)pay, (size_t)got,
				    "bytes", val, vlen);
			}
		}
		FZ_ASSERT(tap_payload(&r, pay, sizeof(pay)) == 0);
	}
out:
	tap_reader_free(&r);
	return 0;
}
