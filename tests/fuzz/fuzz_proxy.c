/*
 * The PROXY protocol header writer (src/proxy.c): proxy_header for
 * versions 1 and 2 with fuzzed source and destination addresses (IPv4,
 * IPv6, unix and unknown families, any bytes, each in a buffer exactly
 * the size of its family's struct so ASan sees any over-read) into an
 * output buffer of fuzzed size (exactly that size, for over-writes).
 *
 * Invariants: the header fits the buffer or the call says -1; with a
 * PROXY_HDR_MAX buffer it always fits; v1 is at most 107 bytes, ends in
 * CRLF and names the addresses inet_ntop prints, or is UNKNOWN; v2 has
 * the signature and a length field equal to the bytes after it.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "tcptap.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct sockaddr *
make_sa(struct fz *z)
{
	uint8_t fam = fz_u8(z);
	size_t sz, n, i;
	const uint8_t *p;
	unsigned char *sa;

	switch (fam % 4) {
	case 0: sz = sizeof(struct sockaddr_in); break;
	case 1: sz = sizeof(struct sockaddr_in6); break;
	case 2: sz = sizeof(struct sockaddr_un); break;
	default: sz = sizeof(struct sockaddr); break;
	}
	sa = calloc(1, sz);
	FZ_ASSERT(sa != NULL);
	p = fz_bytes(z, sz, &n);
	for (i = 0; i < n; i++)
		sa[i] = p[i];
	switch (fam % 4) {
	case 0: ((struct sockaddr *)sa)->sa_family = AF_INET; break;
	case 1: ((struct sockaddr *)sa)->sa_family = AF_INET6; break;
	case 2: ((struct sockaddr *)sa)->sa_family = AF_UNIX; break;
	default:
		/* Any family but the IP ones, as a raw 16-bit value. */
		if (((struct sockaddr *)sa)->sa_family == AF_INET ||
		    ((struct sockaddr *)sa)->sa_family == AF_INET6)
			((struct sockaddr *)sa)->sa_family = AF_APPLETALK;
		break;
	}
	return (struct sockaddr *)sa;
}

static void
check_v1(const struct sockaddr *src, const struct sockaddr *dst,
    const unsigned char *out, size_t n)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], want[128];
	const void *sa, *da;
	unsigned sp, dp;
	int v6 = src->sa_family == AF_INET6;

	FZ_ASSERT(n <= 107);
	FZ_ASSERT(n >= 2 && out[n - 2] == '\r' && out[n - 1] == '\n');
	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6)) {
		FZ_ASSERT(n == 15 && memcmp(out, "PROXY UNKNOWN\r\n", 15) == 0);
		return;
	}
	if (v6) {
		sa = &((const struct sockaddr_in6 *)src)->sin6_addr;
		da = &((const struct sockaddr_in6 *)dst)->sin6_addr;
		sp = ntohs(((const struct sockaddr_in6 *)src)->sin6_port);
		dp = ntohs(((const struct sockaddr_in6 *)dst)->sin6_port);
	} else {
		sa = &((const struct sockaddr_in *)src)->sin_addr;
		da = &((const struct sockaddr_in *)dst)->sin_addr;
		sp = ntohs(((const struct sockaddr_in *)src)->sin_port);
		dp = ntohs(((const struct sockaddr_in *)dst)->sin_port);
	}
	FZ_ASSERT(inet_ntop(src->sa_family, sa, s, sizeof(s)) != NULL);
	FZ_ASSERT(inet_ntop(dst->sa_family, da, d, sizeof(d)) != NULL);
	snprintf(want, sizeof(want), "PROXY %s %s %s %u %u\r\n",
	    v6 ? "TCP6" : "TCP4", s, d, sp, dp);
	FZ_ASSERT(strlen(want) == n && memcmp(want, out, n) == 0);
}

static void
check_v2(const struct sockaddr *src, const struct sockaddr *dst,
    const unsigned char *out, size_t n)
{
	static const unsigned char sig[12] = {
		0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
		0x54, 0x0a
	};
	size_t alen;

	FZ_ASSERT(n >= 16 && n <= PROXY_HDR_MAX);
	FZ_ASSERT(memcmp(out, sig, 12) == 0);
	alen = (size_t)out[14] << 8 | out[15];
	FZ_ASSERT(alen == n - 16);
	if (src->sa_family == AF_INET && dst->sa_family == AF_INET)
		FZ_ASSERT(out[12] == 0x21 && out[13] == 0x11 && alen == 12);
	else if (src->sa_family == AF_INET6 && dst->sa_family == AF_INET6)
		FZ_ASSERT(out[12] == 0x21 && out[13] == 0x21 && alen == 36);
	else
		FZ_ASSERT(out[12] == 0x20 && alen == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	struct sockaddr *src, *dst;
	unsigned char *out;
	size_t outlen;
	ssize_t n;
	uint8_t ctl;
	int version;

	if (size < 2)
		return 0;
	ctl = fz_u8(&z);
	version = (ctl & 1) ? 2 : 1;
	outlen = (ctl & 2) ? PROXY_HDR_MAX : fz_u8(&z) % (PROXY_HDR_MAX + 1);
	src = make_sa(&z);
	dst = make_sa(&z);
	out = malloc(outlen ? outlen : 1);
	FZ_ASSERT(out != NULL);
	n = proxy_header(version, src, dst, out, outlen);
	FZ_ASSERT(n == -1 || (n > 0 && (size_t)n <= outlen));
	if (outlen == PROXY_HDR_MAX)
		FZ_ASSERT(n > 0);
	if (n > 0) {
		if (version == 1)
			check_v1(src, dst, out, (size_t)n);
		else
			check_v2(src, dst, out, (size_t)n);
	}
	free(out);
	free(src);
	free(dst);
	return 0;
}
