/*
 * The one hex formatter: hexdump -C lines and plain lowercase hex.
 * Table-driven, because a filter formats every byte that crosses a
 * relay and printf per byte would be what slows it.
 */

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HEX_SSSE3
#endif

#include "tcptap.h"

static const char hexpair[512] =
	"000102030405060708090a0b0c0d0e0f"
	"101112131415161718191a1b1c1d1e1f"
	"202122232425262728292a2b2c2d2e2f"
	"303132333435363738393a3b3c3d3e3f"
	"404142434445464748494a4b4c4d4e4f"
	"505152535455565758595a5b5c5d5e5f"
	"606162636465666768696a6b6c6d6e6f"
	"707172737475767778797a7b7c7d7e7f"
	"808182838485868788898a8b8c8d8e8f"
	"909192939495969798999a9b9c9d9e9f"
	"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
	"b0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
	"c0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
	"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
	"e0e1e2e3e4e5e6e7e8e9eaebecedeeef"
	"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

/* hexdump -C's text column: 0x20-0x7e as is, everything else '.'. */
static const char printable[256] =
	"................"
	"................"
	" !\"#$%&'()*+,-./"
	"0123456789:;<=>?"
	"@ABCDEFGHIJKLMNO"
	"PQRSTUVWXYZ[\\]^_"
	"`abcdefghijklmno"
	"pqrstuvwxyz{|}~."
	"................"
	"................"
	"................"
	"................"
	"................"
	"................"
	"................"
	"................";

/* %08x of a 64-bit offset: 8 digits, more when it needs them. */
static size_t
hex_offset(char *out, uint64_t off)
{
	size_t n = 8, i;

	while (n < 16 && (off >> (4 * n)) != 0)
		n += 2;
	/* Two digits at a time from the right; n is even. */
	for (i = n; i > 0; i -= 2) {
		memcpy(out + i - 2, hexpair + 2 * (off & 0xff), 2);
		off >>= 8;
	}
	return n;
}

#ifdef HEX_SSSE3
/*
 * A full line's 16 bytes, hex and text at once: one pshufb turns the
 * nibbles into digits, two more spread each half into "hh " triples.
 * o is the first hex digit; writes o[0..66], "|\n" excepted.
 */
__attribute__((target("ssse3"))) static void
hex_row_ssse3(char *o, const unsigned char *p)
{
	const __m128i digits = _mm_setr_epi8('0', '1', '2', '3', '4', '5',
	    '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f');
	/* Output j of a half's 24: digit 2(j/3) + j%3, or ' ' at j%3 == 2. */
	const __m128i spread0 = _mm_setr_epi8(0, 1, -1, 2, 3, -1, 4, 5, -1,
	    6, 7, -1, 8, 9, -1, 10);
	const __m128i spread1 = _mm_setr_epi8(11, -1, 12, 13, -1, 14, 15, -1,
	    -1, -1, -1, -1, -1, -1, -1, -1);
	const __m128i sp0 = _mm_setr_epi8(0, 0, ' ', 0, 0, ' ', 0, 0, ' ',
	    0, 0, ' ', 0, 0, ' ', 0);
	const __m128i sp1 = _mm_setr_epi8(0, ' ', 0, 0, ' ', 0, 0, ' ',
	    0, 0, 0, 0, 0, 0, 0, 0);
	const __m128i low = _mm_set1_epi8(0x0f);
	__m128i in, hi, lo, half, ok;

	in = _mm_loadu_si128((const __m128i *)(const void *)p);
	hi = _mm_shuffle_epi8(digits, _mm_and_si128(_mm_srli_epi16(in, 4),
	    low));
	lo = _mm_shuffle_epi8(digits, _mm_and_si128(in, low));
	half = _mm_unpacklo_epi8(hi, lo);
	_mm_storeu_si128((__m128i *)(void *)o,
	    _mm_or_si128(_mm_shuffle_epi8(half, spread0), sp0));
	_mm_storel_epi64((__m128i *)(void *)(o + 16),
	    _mm_or_si128(_mm_shuffle_epi8(half, spread1), sp1));
	o[24] = ' ';
	half = _mm_unpackhi_epi8(hi, lo);
	_mm_storeu_si128((__m128i *)(void *)(o + 25),
	    _mm_or_si128(_mm_shuffle_epi8(half, spread0), sp0));
	_mm_storel_epi64((__m128i *)(void *)(o + 41),
	    _mm_or_si128(_mm_shuffle_epi8(half, spread1), sp1));
	o[49] = ' ';
	o[50] = '|';
	/* Signed bytes: 0x80-0xff are negative, so not above 0x1f. */
	ok = _mm_and_si128(_mm_cmpgt_epi8(in, _mm_set1_epi8(0x1f)),
	    _mm_cmplt_epi8(in, _mm_set1_epi8(0x7f)));
	_mm_storeu_si128((__m128i *)(void *)(o + 51),
	    _mm_or_si128(_mm_and_si128(ok, in),
	    _mm_andnot_si128(ok, _mm_set1_epi8('.'))));
}

static int
hex_has_ssse3(void)
{
	return __builtin_cpu_supports("ssse3");
}
#endif

/*
 * One hexdump -C line for n (1..16) bytes at offset off, '\n' included.
 * out needs 71 bytes plus the offset's digits: 79 for offsets below
 * 4 GiB, at most 87.  Returns the bytes written.
 */
size_t
hex_line(char *out, uint64_t off, const unsigned char *p, size_t n)
{
	char *o = out;
	size_t i;

	o += hex_offset(o, off);
	o[0] = o[1] = ' ';
	o += 2;
#ifdef HEX_SSSE3
	if (n >= 16 && hex_has_ssse3()) {
		hex_row_ssse3(o, p);
		o[67] = '|';
		o[68] = '\n';
		return (size_t)(o + 69 - out);
	}
#endif
	if (n >= 16) {
		n = 16;
		/* The common case: no padding, no per-byte test. */
		for (i = 0; i < 16; i++) {
			memcpy(o, hexpair + 2 * p[i], 2);
			o[2] = ' ';
			o += 3;
			if (i == 7)
				*o++ = ' ';
		}
	} else {
		for (i = 0; i < 16; i++) {
			if (i < n)
				memcpy(o, hexpair + 2 * p[i], 2);
			else
				o[0] = o[1] = ' ';
			o[2] = ' ';
			o += 3;
			if (i == 7)
				*o++ = ' ';
		}
	}
	o[0] = ' ';
	o[1] = '|';
	o += 2;
	for (i = 0; i < n; i++)
		*o++ = printable[p[i]];
	o[0] = '|';
	o[1] = '\n';
	return (size_t)(o + 2 - out);
}

/* Lowercase hex of p[0..n), no NUL; returns 2n. */
size_t
hex_encode(char *out, const unsigned char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		memcpy(out + 2 * i, hexpair + 2 * p[i], 2);
	return 2 * n;
}
