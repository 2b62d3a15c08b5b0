/*
 * The address parser and printer (src/addr.c): addr_resolve on
 * LISTEN/TARGET/--connect specs, addr_format on what it returns and on
 * raw socket addresses of any family and length.
 *
 * addr_resolve calls getaddrinfo(3), which would ask DNS about a name:
 * the harness only passes specs whose host part is empty or an IP
 * literal (inet_pton), and whose port is all digits (no services
 * lookup), so a run never touches the network.  Everything else still
 * goes through split_host_port via the unix: and malformed paths: a spec
 * that is skipped is one split_host_port would have accepted with a
 * name in it.  What is skipped: host names; what is covered: the split,
 * the port check, unix: paths, literal v4 and v6 (brackets and all).
 *
 * Input: 1 control byte (passive or not, the output buffer size for
 * addr_format), the spec up to the first NUL, then raw sockaddr bytes.
 *
 * Invariants: success gives at least one endpoint, each of a size that
 * fits the storage; addr_format NUL-terminates within its buffer.
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include "tcptap.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Would getaddrinfo stay off the network for this spec? */
static int
offline(const char *spec)
{
	char host[300];
	const char *colon, *h = spec, *port;
	unsigned char a[16];
	size_t len;

	if (strncmp(spec, "unix:", 5) == 0)
		return 1;
	if (*spec == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL)
			return 1;	/* split_host_port refuses it */
		h = spec + 1;
		len = (size_t)(close - h);
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			return 1;
		len = (size_t)(colon - spec);
	}
	if (colon == NULL)
		return 1;
	port = colon + 1;
	if (port[strspn(port, "0123456789")] != '\0')
		return 0;	/* a service name: /etc/services or NSS */
	if (len >= sizeof(host))
		return 1;
	memcpy(host, h, len);
	host[len] = '\0';
	return len == 0 || inet_pton(AF_INET, host, a) == 1 ||
	    inet_pton(AF_INET6, host, a) == 1;
}

static void
format_check(const struct sockaddr *sa, socklen_t salen, size_t outlen)
{
	char *out = malloc(outlen);	/* exact: ASan sees an overflow */

	FZ_ASSERT(out != NULL);
	addr_format(sa, salen, out, outlen);
	if (outlen > 0)
		FZ_ASSERT(memchr(out, '\0', outlen) != NULL);
	free(out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct endpoint *eps;
	struct sockaddr_storage *ss;
	char spec[600], err[256];
	const uint8_t *nul;
	size_t n = 0, i, len, outlen;
	socklen_t salen;
	uint8_t ctl;
	int rv;

	if (size < 2)
		return 0;
	ctl = data[0];
	data++;
	size--;
	outlen = (ctl & 0x80) ? ADDR_STRLEN : (size_t)(ctl & 0x3f);
	if ((nul = memchr(data, '\0', size)) == NULL)
		nul = data + size;
	len = (size_t)(nul - data);
	if (len >= sizeof(spec))
		len = sizeof(spec) - 1;
	memcpy(spec, data, len);
	spec[len] = '\0';
	if (offline(spec)) {
		err[0] = '\0';
		eps = NULL;
		rv = addr_resolve(spec, ctl & 0x40, &eps, &n, err, sizeof(err));
		FZ_ASSERT(rv == 0 || rv == -1 || rv == ADDR_BADSPEC);
		if (rv == 0) {
			FZ_ASSERT(n > 0 && eps != NULL);
			for (i = 0; i < n; i++) {
				FZ_ASSERT(eps[i].len > 0 &&
				    eps[i].len <= sizeof(eps[i].ss));
				format_check((struct sockaddr *)&eps[i].ss,
				    eps[i].len, outlen);
				format_check((struct sockaddr *)&eps[i].ss,
				    eps[i].len, ADDR_STRLEN);
			}
			free(eps);
		} else
			FZ_ASSERT(err[0] != '\0');
	}

	/* A raw address as getpeername could return it. */
	if (nul < data + size) {
		size = (size_t)(data + size - (nul + 1));
		data = nul + 1;
		if (size < 3)
			return 0;
		salen = (socklen_t)(data[0] % (sizeof(*ss) + 1));
		ss = calloc(1, sizeof(*ss));
		FZ_ASSERT(ss != NULL);
		memcpy(ss, data + 1, size - 1 < sizeof(*ss) ? size - 1 :
		    sizeof(*ss));
		switch (data[1] % 4) {
		case 0: ss->ss_family = AF_INET; break;
		case 1: ss->ss_family = AF_INET6; break;
		case 2: ss->ss_family = AF_UNIX; break;
		}
		format_check((struct sockaddr *)ss, salen, outlen);
		format_check((struct sockaddr *)ss, salen, ADDR_STRLEN);
		free(ss);
	}
	return 0;
}
