/* The UCSPI environment and the program run per connection. */

#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

static int
setenv_addr(const struct sockaddr_storage *ss, socklen_t sl,
    const char *ipvar, const char *portvar)
{
	char ip[NI_MAXHOST], port[NI_MAXSERV];

	if (getnameinfo((const struct sockaddr *)ss, sl, ip, sizeof(ip),
	    port, sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		return 0;
	if (setenv(ipvar, ip, 1) == -1 || setenv(portvar, port, 1) == -1)
		return -1;
	return 0;
}

/*
 * What tcpserver sets, so a program or tap needs no template language:
 * PROTO, TCPLOCALIP/PORT, TCPREMOTEIP/PORT, and TCPTAP_SID.
 */
int
ucspi_setenv(int fd, const char *sid)
{
	struct sockaddr_storage local, remote;
	socklen_t ll = sizeof(local), rl = sizeof(remote);

	if (setenv("TCPTAP_SID", sid, 1) == -1)
		return -1;
	if (getsockname(fd, (struct sockaddr *)&local, &ll) == -1 ||
	    getpeername(fd, (struct sockaddr *)&remote, &rl) == -1)
		return 0;	/* not a socket: nothing more to say */
	if (local.ss_family == AF_UNIX)
		return setenv("PROTO", "UNIX", 1);
	if (setenv("PROTO", "TCP", 1) == -1 ||
	    setenv_addr(&local, ll, "TCPLOCALIP", "TCPLOCALPORT") == -1 ||
	    setenv_addr(&remote, rl, "TCPREMOTEIP", "TCPREMOTEPORT") == -1)
		return -1;
	return 0;
}

/* Become PROG, with default signals and only fds 0, 1 and 2. */
void
exec_prog(char **argv)
{
	child_reset_signals();
	closefrom(3);
	execvp(argv[0], argv);
	log_event(LOG_ERR, "error exec %s: %s", argv[0], strerror(errno));
	_exit(EXIT_SYS);
}
