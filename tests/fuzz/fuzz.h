/*
 * Shared bits of the libFuzzer harnesses: a cursor over the input that
 * hands out control bytes, and a small deterministic PRNG for choices
 * (chunk sizes, actions) that should not eat the data being parsed.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct fz {
	const uint8_t	*p;
	size_t		 n;
};

static inline uint8_t
fz_u8(struct fz *z)
{
	uint8_t b;

	if (z->n == 0)
		return 0;
	b = *z->p++;
	z->n--;
	return b;
}

static inline uint32_t
fz_u32(struct fz *z)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++)
		v = v << 8 | fz_u8(z);
	return v;
}

/* Take up to n bytes; *got says how many. */
static inline const uint8_t *
fz_bytes(struct fz *z, size_t n, size_t *got)
{
	const uint8_t *p = z->p;

	if (n > z->n)
		n = z->n;
	z->p += n;
	z->n -= n;
	*got = n;
	return p;
}

static inline uint32_t
fz_rand(uint32_t *s)
{
	/* xorshift32; never zero */
	uint32_t x = *s ? *s : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return *s = x;
}

/* An invariant broke: crash so libFuzzer keeps the input. */
#define FZ_ASSERT(c) do {						\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #c);				\
		abort();						\
	}								\
} while (0)

#endif
