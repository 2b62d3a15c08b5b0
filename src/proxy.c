/*
 * The PROXY protocol header (haproxy's proxy-protocol.txt, versions 1
 * and 2), sent to the target before any byte so that it sees the real
 * client address.  A pair of addresses it cannot express (unix sockets,
 * mixed families) is sent as UNKNOWN (v1) or LOCAL (v2): the server
 * then uses the connection's own addresses, as the spec says.
 */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "tcptap.h"

static const unsigned char v2sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static ssize_t
proxy_v1(const struct sockaddr *src, const struct sockaddr *dst,
    unsigned char *out, size_t outlen)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	unsigned sp, dp;
	int n, v6 = src->sa_family == AF_INET6;
	const void *sa, *da;

	if (src->sa_family != dst->sa_family ||
	    (src->sa_family != AF_INET && src->sa_family != AF_INET6)) {
		n = snprintf((char *)out, outlen, "PROXY UNKNOWN\r\n");
		return n < 0 || (size_t)n >= outlen ? -1 : n;
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
	if (inet_ntop(src->sa_family, sa, s, sizeof(s)) == NULL ||
	    inet_ntop(dst->sa_family, da, d, sizeof(d)) == NULL)
		return -1;
	n = snprintf((char *)out, outlen, "PROXY %s %s %s %u %u\r\n",
	    v6 ? "TCP6" : "TCP4", s, d, sp, dp);
	return n < 0 || (size_t)n >= outlen ? -1 : n;
}

static unsigned char *
put(unsigned char *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}

static ssize_t
proxy_v2(const struct sockaddr *src, const struct sockaddr *dst,
    unsigned char *out, size_t outlen)
{
	const struct sockaddr_in *s4 = (const void *)src, *d4 = (const void *)dst;
	const struct sockaddr_in6 *s6 = (const void *)src,
	    *d6 = (const void *)dst;
	unsigned char *p = out;
	uint16_t alen = 0;
	unsigned char cmd = 0x21, fam = 0x00;	/* v2 PROXY, UNSPEC */

	if (src->sa_family == AF_INET && dst->sa_family == AF_INET) {
		fam = 0x11;			/* TCP over IPv4 */
		alen = 12;
	} else if (src->sa_family == AF_INET6 && dst->sa_family == AF_INET6) {
		fam = 0x21;			/* TCP over IPv6 */
		alen = 36;
	} else
		cmd = 0x20;			/* LOCAL: no addresses */
	if (outlen < 16 + (size_t)alen)
		return -1;
	p = put(p, v2sig, sizeof(v2sig));
	*p++ = cmd;
	*p++ = fam;
	*p++ = (unsigned char)(alen >> 8);
	*p++ = (unsigned char)alen;
	if (fam == 0x11) {
		p = put(p, &s4->sin_addr, 4);
		p = put(p, &d4->sin_addr, 4);
		p = put(p, &s4->sin_port, 2);	/* network order already */
		p = put(p, &d4->sin_port, 2);
	} else if (fam == 0x21) {
		p = put(p, &s6->sin6_addr, 16);
		p = put(p, &d6->sin6_addr, 16);
		p = put(p, &s6->sin6_port, 2);
		p = put(p, &d6->sin6_port, 2);
	}
	return p - out;
}

/*
 * The header for a connection from src to dst (the address the client
 * reached), in out; its length, or -1 if out is too small.
 */
ssize_t
proxy_header(int version, const struct sockaddr *src,
    const struct sockaddr *dst, unsigned char *out, size_t outlen)
{
	return version == 1 ? proxy_v1(src, dst, out, outlen) :
	    proxy_v2(src, dst, out, outlen);
}
