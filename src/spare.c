/*
 * Spare relays: a relay that has finished its connection tells the
 * listener so on its job socket and waits there; the listener may hand
 * it the next accepted connection (the fd and the rule that let it
 * in) instead of forking.  On this kind of machine a fork and exit cost
 * more than a whole short connection's relaying, so reuse is what lets
 * one-process-per-connection keep up with event-loop proxies.
 */

#include <sys/socket.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* The job socket: messages keep their bounds, fds travel with them. */
int
spare_pair(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

/* Listener: give connection fd, admitted by rule, to an idle relay. */
int
spare_send(int ctl, int fd, const char *rule)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct msghdr m;
	struct iovec iov;
	size_t len = strnlen(rule, SPARE_RULE_MAX - 1);

	memset(&m, 0, sizeof(m));
	memset(&u, 0, sizeof(u));
	iov.iov_base = (void *)rule;
	iov.iov_len = len;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	u.hdr.cmsg_level = SOL_SOCKET;
	u.hdr.cmsg_type = SCM_RIGHTS;
	u.hdr.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&u.hdr), &fd, sizeof(int));
	return sendmsg(ctl, &m, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}

/* Relay: this connection is over, I can take another. */
int
spare_done(int ctl)
{
	return send(ctl, "", 1, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/*
 * Relay: wait for the next connection.  Returns its fd with the rule
 * text in rule, or -1 when the listener wants us gone (EOF) or the
 * message is not a job.
 */
int
spare_wait(int ctl, char *rule, size_t size)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} u;
	struct cmsghdr *c;
	struct msghdr m;
	struct iovec iov;
	ssize_t n;
	int fd = -1;

	memset(&m, 0, sizeof(m));
	iov.iov_base = rule;
	iov.iov_len = size - 1;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = u.buf;
	m.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(ctl, &m, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	rule[n] = '\0';
	c = CMSG_FIRSTHDR(&m);
	if (c != NULL && c->cmsg_level == SOL_SOCKET &&
	    c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(&fd, CMSG_DATA(c), sizeof(int));
	if (fd == -1 || (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0) {
		if (fd != -1)
			(void)close(fd);
		return -1;
	}
	return fd;
}
