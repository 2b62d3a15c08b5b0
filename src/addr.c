/*
 * The one address parser and printer.  Specs: HOST:PORT, [V6]:PORT,
 * :PORT (any host when listening, loopback when connecting) and
 * unix:PATH.  Printed form: IP:PORT, [V6]:PORT, unix:PATH (vis-encoded,
 * since a peer's path is not ours to trust).
 */

#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#define LIBBSD_NETBSD_VIS	/* strnvis(3) with NetBSD argument order */
#include <vis.h>

#include "tcptap.h"

static int
resolve_unix(const char *path, struct endpoint **eps, size_t *n,
    char *err, size_t errlen)
{
	struct sockaddr_un *sun;
	struct endpoint *ep;

	if (*path == '\0' || strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "unix socket path empty or too long");
		return -1;
	}
	if ((ep = calloc(1, sizeof(*ep))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	sun = (struct sockaddr_un *)&ep->ss;
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, strlen(path) + 1);
	ep->len = sizeof(*sun);
	*eps = ep;
	*n = 1;
	return 0;
}

/* Split HOST:PORT or [V6]:PORT; host is "" for :PORT. */
static int
split_host_port(const char *spec, char *host, size_t hlen, char **port)
{
	const char *colon, *h = spec;
	size_t len;

	if (*spec == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = spec + 1;
		len = (size_t)(close - h);
		colon = close + 1;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			return -1;
		len = (size_t)(colon - spec);
		if (memchr(spec, ':', len) != NULL)
			return -1;	/* a bare v6 address needs brackets */
	}
	if (len >= hlen || colon[1] == '\0')
		return -1;
	/* getaddrinfo takes port 70000 as 4464: numbers are ours to check */
	if (colon[1 + strspn(colon + 1, "0123456789")] == '\0' &&
	    (strlen(colon + 1) > 5 || atoi(colon + 1) > 65535))
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	*port = (char *)colon + 1;
	return 0;
}

/*
 * Resolve spec into every address it names, in getaddrinfo's order.
 * On failure, a message for "SPEC: message" goes to err, and the
 * return says whose fault: ADDR_BADSPEC (the command line) or -1.
 */
int
addr_resolve(const char *spec, int passive, struct endpoint **eps,
    size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char host[256], *port;
	size_t i;
	int e;

	if (strncmp(spec, "unix:", 5) == 0)
		return resolve_unix(spec + 5, eps, n, err, errlen) == -1 ?
		    ADDR_BADSPEC : 0;
	if (split_host_port(spec, host, sizeof(host), &port) == -1) {
		snprintf(err, errlen,
		    "not HOST:PORT, [V6ADDR]:PORT, :PORT or unix:PATH");
		return ADDR_BADSPEC;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = passive ? AI_PASSIVE : 0;
	if ((e = getaddrinfo(*host ? host : NULL, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s", gai_strerror(e));
		return -1;
	}
	for (*n = 0, ai = res; ai != NULL; ai = ai->ai_next)
		(*n)++;
	if ((*eps = calloc(*n, sizeof(**eps))) == NULL) {
		snprintf(err, errlen, "%s", strerror(errno));
		freeaddrinfo(res);
		return -1;
	}
	for (i = 0, ai = res; ai != NULL; ai = ai->ai_next, i++) {
		memcpy(&(*eps)[i].ss, ai->ai_addr, ai->ai_addrlen);
		(*eps)[i].len = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return 0;
}

void
addr_format(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	char ip[INET6_ADDRSTRLEN], path[4 * sizeof(sun->sun_path) + 1];
	size_t plen;

	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &sin->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(sin->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &sin6->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(sin6->sin6_port));
		break;
	case AF_UNIX:
		/* (a salen past the struct would overflow path below) */
		plen = salen > offsetof(struct sockaddr_un, sun_path) ?
		    salen - offsetof(struct sockaddr_un, sun_path) : 0;
		if (plen > sizeof(sun->sun_path))
			plen = sizeof(sun->sun_path);
		plen = strnlen(sun->sun_path, plen);
		strnvisx(path, sizeof(path), sun->sun_path, plen,
		    VIS_WHITE | VIS_SAFE | VIS_OCTAL);
		snprintf(buf, len, "unix:%s", path);
		break;
	default:
		snprintf(buf, len, "unknown");
		break;
	}
}

static void
addr_of(int fd, int peer, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int r;

	memset(&ss, 0, sizeof(ss));
	r = peer ? getpeername(fd, (struct sockaddr *)&ss, &sl) :
	    getsockname(fd, (struct sockaddr *)&ss, &sl);
	if (r == -1) {
		snprintf(buf, len, "unknown");
		return;
	}
	addr_format((struct sockaddr *)&ss, sl, buf, len);
}

void
addr_peer(int fd, char *buf, size_t len)
{
	addr_of(fd, 1, buf, len);
}

void
addr_local(int fd, char *buf, size_t len)
{
	addr_of(fd, 0, buf, len);
}
