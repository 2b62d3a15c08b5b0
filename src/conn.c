/* The legs of one connection: reaching the target, tuning, aborting. */

#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* Connect within timeout_ms; 0 or an errno value. */
static int
connect_one(int fd, const struct endpoint *ep, int timeout_ms)
{
	struct pollfd pfd;
	socklen_t sl;
	int r, soerr;

	if (connect(fd, (const struct sockaddr *)&ep->ss, ep->len) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return errno;
	pfd.fd = fd;
	pfd.events = POLLOUT;
	while ((r = poll(&pfd, 1, timeout_ms)) == -1 && errno == EINTR)
		;
	if (r == -1)
		return errno;
	if (r == 0)
		return ETIMEDOUT;
	sl = sizeof(soerr);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == -1)
		return errno;
	return soerr;
}

/*
 * Try every address of the target in order.  Returns a connected
 * non-blocking socket and its address in peer, or -1 with the last
 * failure ("ADDR: reason") in err.
 */
int
conn_to_target(const struct endpoint *eps, size_t n, int timeout_ms,
    char *peer, size_t plen, char *err, size_t errlen)
{
	char name[ADDR_STRLEN];
	size_t i;
	int fd, e;

	snprintf(err, errlen, "no address");
	for (i = 0; i < n; i++) {
		addr_format((const struct sockaddr *)&eps[i].ss, eps[i].len,
		    name, sizeof(name));
		fd = socket(eps[i].ss.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd == -1) {
			snprintf(err, errlen, "%s: %s", name, strerror(errno));
			continue;
		}
		if ((e = connect_one(fd, &eps[i], timeout_ms)) == 0) {
			strlcpy(peer, name, plen);
			return fd;
		}
		snprintf(err, errlen, "%s: %s", name, strerror(e));
		close(fd);
	}
	return -1;
}

/* TCP_NODELAY: the relay forwards what it gets, when it gets it. */
void
conn_tune(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	int on = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == -1)
		log_event(LOG_DEBUG, "warn setsockopt TCP_NODELAY: %s",
		    strerror(errno));
}

/* Close with a reset, so the peer learns the connection failed. */
void
conn_abort(int fd)
{
	struct linger l = { 1, 0 };

	if (fd < 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	(void)close(fd);
}
