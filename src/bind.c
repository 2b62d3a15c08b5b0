/*
 * The listening sockets: bind what LISTEN names, or take the ones
 * systemd passed, and close them again when the listener drains.
 */

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define SD_LISTEN_FDS_START 3

/* A unix socket path nobody answers on is left over: remove it. */
static int
unix_stale(const struct endpoint *ep)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)&ep->ss;
	struct stat st;
	int fd, stale;

	if (stat(sun->sun_path, &st) == -1 || !S_ISSOCK(st.st_mode))
		return 0;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	stale = connect(fd, (const struct sockaddr *)sun, ep->len) == -1 &&
	    errno == ECONNREFUSED;
	close(fd);
	return stale && unlink(sun->sun_path) == 0;
}

static int
bind_one(struct endpoint *ep, int backlog)
{
	int fd, on = 1, e;

	fd = socket(ep->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	if (ep->ss.ss_family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	/* :PORT binds v4 and v6 apart, so each must be v6 only. */
	if (ep->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, (struct sockaddr *)&ep->ss, ep->len) == -1) {
		if (errno != EADDRINUSE || ep->ss.ss_family != AF_UNIX ||
		    !unix_stale(ep) ||
		    bind(fd, (struct sockaddr *)&ep->ss, ep->len) == -1)
			goto fail;
	}
	if (listen(fd, backlog) == -1)
		goto fail;
	return fd;
fail:
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

static void
set_port(struct endpoint *ep, in_port_t port)
{
	if (ep->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ep->ss)->sin_port = port;
	else if (ep->ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&ep->ss)->sin6_port = port;
}

static in_port_t
bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ((struct sockaddr_in *)&ss)->sin_port;
	if (ss.ss_family == AF_INET6)
		return ((struct sockaddr_in6 *)&ss)->sin6_port;
	return 0;
}

/*
 * Bind every address LISTEN names.  With port 0 the first bind picks
 * the port and the others (v6 beside v4 for :0) take the same one.
 */
int
listen_open(const char *spec, int backlog, struct listener *l)
{
	struct endpoint *eps;
	char msg[256];
	size_t n, i;
	int fd, r;

	if ((r = addr_resolve(spec, 1, &eps, &n, msg, sizeof(msg))) != 0) {
		warnx("listen %s: %s", spec, msg);
		return r;
	}
	if ((l->fds = calloc(n, sizeof(int))) == NULL)
		err(EXIT_SYS, "calloc");
	for (i = 0; i < n; i++) {
		if ((fd = bind_one(&eps[i], backlog)) == -1) {
			warn("listen %s", spec);
			free(eps);
			return -1;
		}
		if (i == 0)
			for (size_t j = 1; j < n; j++)
				set_port(&eps[j], bound_port(fd));
		l->fds[l->nfds++] = fd;
	}
	if (eps[0].ss.ss_family == AF_UNIX)
		l->unix_path = strdup(((struct sockaddr_un *)&eps[0].ss)->
		    sun_path);
	free(eps);
	return 0;
}

/* systemd's sockets (Accept=no): LISTEN_PID, LISTEN_FDS, fds from 3. */
int
listen_sd(struct listener *l)
{
	const char *s, *errstr;
	socklen_t sl;
	int n, i, fd, acc;

	if ((s = getenv("LISTEN_PID")) == NULL ||
	    strtonum(s, 1, INT32_MAX, &errstr) != getpid() ||
	    (s = getenv("LISTEN_FDS")) == NULL) {
		warnx("listen sd: no sockets passed (LISTEN_PID, LISTEN_FDS)");
		return -1;
	}
	n = (int)strtonum(s, 1, 1024, &errstr);
	if (errstr != NULL) {
		warnx("listen sd: LISTEN_FDS=%s: %s", s, errstr);
		return -1;
	}
	(void)unsetenv("LISTEN_PID");
	(void)unsetenv("LISTEN_FDS");
	(void)unsetenv("LISTEN_FDNAMES");
	if ((l->fds = calloc((size_t)n, sizeof(int))) == NULL)
		err(EXIT_SYS, "calloc");
	for (i = 0; i < n; i++) {
		fd = SD_LISTEN_FDS_START + i;
		sl = sizeof(acc);
		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &sl) ==
		    -1 || !acc) {
			warnx("listen sd: fd %d is not a listening socket", fd);
			return -1;
		}
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
		    fd_nonblock(fd) == -1) {
			warn("listen sd: fd %d", fd);
			return -1;
		}
		l->fds[l->nfds++] = fd;
	}
	return 0;
}

int
listen_port(const struct listener *l)
{
	return l->nfds > 0 ? ntohs(bound_port(l->fds[0])) : 0;
}

/* Stop listening: close the sockets, remove a unix socket's path. */
void
listen_close(struct listener *l)
{
	size_t i;

	for (i = 0; i < l->nfds; i++)
		(void)close(l->fds[i]);
	l->nfds = 0;
	free(l->fds);
	l->fds = NULL;
	if (l->unix_path != NULL)
		(void)unlink(l->unix_path);
	free(l->unix_path);
	l->unix_path = NULL;
}
