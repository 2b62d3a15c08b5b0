/* Address ranges for -A and -D: IPv4 and IPv6 CIDR blocks. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include "tcptap.h"

/* ADDR or ADDR/PREFIX; 0, or -1 if it is not a range. */
int
cidr_parse(const char *spec, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	const char *errstr;
	int max;

	memset(c, 0, sizeof(*c));
	if (strlcpy(buf, spec, sizeof(buf)) >= sizeof(buf))
		return -1;
	if ((slash = strchr(buf, '/')) != NULL)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else
		return -1;
	c->prefix = max;
	if (slash != NULL) {
		c->prefix = (int)strtonum(slash, 0, max, &errstr);
		if (errstr != NULL)
			return -1;
	}
	/*
	 * ::ffff:a.b.c.d/96+ is an IPv4 range: cidr_match sees a v4-mapped
	 * client as the v4 client it is, so keep the range in that form
	 * or it would never match.
	 */
	if (c->family == AF_INET6 && c->prefix >= 96 &&
	    memcmp(c->addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
		memmove(c->addr, c->addr + 12, 4);
		memset(c->addr + 4, 0, 12);
		c->family = AF_INET;
		c->prefix -= 96;
	}
	return 0;
}

/* The address bytes of sa and their family; NULL for other families. */
static const unsigned char *
sa_bytes(const struct sockaddr *sa, int *family)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	*family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		return (const unsigned char *)
		    &((const struct sockaddr_in *)sa)->sin_addr;
	if (sa->sa_family != AF_INET6)
		return NULL;
	/* A v4 client reaching a v6 socket is still a v4 client. */
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		*family = AF_INET;
		return s6->sin6_addr.s6_addr + 12;
	}
	return s6->sin6_addr.s6_addr;
}

/* Do the first bits bits of a and b agree? */
static int
prefix_eq(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;
	unsigned char mask;

	if (memcmp(a, b, (size_t)whole) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int
cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	const unsigned char *p;
	int family;

	if ((p = sa_bytes(sa, &family)) == NULL || family != c->family)
		return 0;
	return prefix_eq(p, c->addr, c->prefix);
}

/*
 * Do a and b count as one client for -C?  IPv4 by address, IPv6 by
 * the first v6_bits bits (a host usually owns a /64).
 */
int
cidr_same_client(const struct sockaddr *a, const struct sockaddr *b,
    int v6_bits)
{
	const unsigned char *pa, *pb;
	int fa, fb;

	if ((pa = sa_bytes(a, &fa)) == NULL || (pb = sa_bytes(b, &fb)) == NULL)
		return 0;
	if (fa != fb)
		return 0;
	return prefix_eq(pa, pb, fa == AF_INET ? 32 : v6_bits);
}
