/*
 * Address ranges (src/cidr.c, src/access.c): cidr_parse on -A/-D
 * arguments, access_add/access_check over the rules, cidr_match and
 * cidr_same_client on fuzzed socket addresses of every family.
 *
 * Input: up to 8 lines of CIDR specs (the first byte of each line
 * says allow or deny), then "\n\n", then raw bytes filling two
 * sockaddr_storage (family chosen from AF_INET, AF_INET6, AF_UNIX or
 * whatever the bytes say) and the -C v6 prefix.
 *
 * Invariants: a parsed range has a family and a prefix in range; a
 * range always matches its own address; a parsed spec re-printed with
 * inet_ntop and parsed again is the same range; same_client is
 * symmetric and reflexive for IP addresses.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "tcptap.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fill_sa(struct fz *z, struct sockaddr_storage *ss)
{
	size_t n, i;
	const uint8_t *p;
	uint8_t fam = fz_u8(z);

	memset(ss, 0, sizeof(*ss));
	p = fz_bytes(z, sizeof(*ss), &n);
	for (i = 0; i < n; i++)
		((unsigned char *)ss)[i] = p[i];
	switch (fam % 4) {
	case 0:
		ss->ss_family = AF_INET;
		break;
	case 1:
		ss->ss_family = AF_INET6;
		break;
	case 2:
		ss->ss_family = AF_UNIX;
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct access acc;
	struct cidr c, c2;
	struct sockaddr_storage a, b, self;
	struct fz z;
	char spec[128], ip[INET6_ADDRSTRLEN + 8];
	const uint8_t *end, *nl;
	size_t n;
	int allow, i, v6bits, nrules = 0;

	memset(&acc, 0, sizeof(acc));
	end = data + size;
	while (data < end && nrules < 8) {
		if ((nl = memchr(data, '\n', (size_t)(end - data))) == NULL)
			nl = end;
		n = (size_t)(nl - data);
		if (n == 0) {
			data = nl + 1;
			break;
		}
		allow = data[0] & 1;
		n--;
		if (n >= sizeof(spec))
			n = sizeof(spec) - 1;
		memcpy(spec, data + 1, n);
		spec[n] = '\0';
		data = nl < end ? nl + 1 : end;
		nrules++;
		if (cidr_parse(spec, &c) == 0) {
			FZ_ASSERT(c.family == AF_INET || c.family == AF_INET6);
			FZ_ASSERT(c.prefix >= 0 && c.prefix <=
			    (c.family == AF_INET ? 32 : 128));
			/* Its own address is in it. */
			memset(&self, 0, sizeof(self));
			self.ss_family = (sa_family_t)c.family;
			if (c.family == AF_INET)
				memcpy(&((struct sockaddr_in *)&self)->sin_addr,
				    c.addr, 4);
			else
				memcpy(&((struct sockaddr_in6 *)&self)->sin6_addr,
				    c.addr, 16);
			/*
			 * (A v6 range of v4-mapped addresses shorter than /96
			 * matches no v4 client: such clients count as v4.)
			 */
			if (c.family == AF_INET || !IN6_IS_ADDR_V4MAPPED(
			    &((struct sockaddr_in6 *)&self)->sin6_addr))
				FZ_ASSERT(cidr_match(&c,
				    (struct sockaddr *)&self));
			/* Printed and parsed again: the same range. */
			FZ_ASSERT(inet_ntop(c.family, c.addr, ip,
			    INET6_ADDRSTRLEN) != NULL);
			snprintf(ip + strlen(ip), 8, "/%d", c.prefix);
			FZ_ASSERT(cidr_parse(ip, &c2) == 0);
			FZ_ASSERT(c2.family == c.family &&
			    c2.prefix == c.prefix &&
			    memcmp(c2.addr, c.addr, 16) == 0);
		}
		if (access_add(&acc, allow, spec) == 0)
			FZ_ASSERT(strlen(acc.rules[acc.n - 1].text) <
			    sizeof(acc.rules[0].text));
	}
	z.p = data;
	z.n = (size_t)(end - data);
	fill_sa(&z, &a);
	fill_sa(&z, &b);
	v6bits = fz_u8(&z) % 129;
	(void)access_check(&acc, (struct sockaddr *)&a, &allow);
	FZ_ASSERT(allow == 0 || allow == 1);
	for (i = 0; i < acc.n; i++) {
		(void)cidr_match(&acc.rules[i].net, (struct sockaddr *)&a);
		(void)cidr_match(&acc.rules[i].net, (struct sockaddr *)&b);
	}
	FZ_ASSERT(cidr_same_client((struct sockaddr *)&a,
	    (struct sockaddr *)&b, v6bits) ==
	    cidr_same_client((struct sockaddr *)&b, (struct sockaddr *)&a,
	    v6bits));
	if (a.ss_family == AF_INET || a.ss_family == AF_INET6)
		FZ_ASSERT(cidr_same_client((struct sockaddr *)&a,
		    (struct sockaddr *)&a, v6bits));
	free(acc.rules);
	return 0;
}
