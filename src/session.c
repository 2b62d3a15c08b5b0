/*
 * One connection's life, the same whether the listener forked us,
 * inetd, systemd or tcpserver started us: name the session, reach the
 * target, relay, log the end.
 */

#include <sys/signalfd.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

static void
session_begin(struct session *s, int cfd)
{
	memset(s, 0, sizeof(*s));
	sid_make(s->sid, sizeof(s->sid));
	s->open_us = now_us();
	s->open_mono = mono_us();
	addr_peer(cfd, s->client, sizeof(s->client));
	addr_local(cfd, s->local, sizeof(s->local));
	if (ucspi_setenv(cfd, s->sid) == -1)
		log_event(LOG_WARNING, "warn sid=%s setenv: %s", s->sid,
		    strerror(errno));
}

/* SIGTERM (and SIGINT under inetd) end the relay as "shutdown". */
static int
session_sigfd(void)
{
	sigset_t mask;
	int fd;

	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) == -1) {
		log_event(LOG_ERR, "error signalfd: %s", strerror(errno));
		return -1;
	}
	return fd;
}

/* Relay the client on cin/cout to the target. */
int
session_relay(const struct serve_ctx *c, int cin, int cout)
{
	struct session s;
	struct relay_ends e;
	char why[ADDR_STRLEN + 128];
	int sfd, sigfd, rc;

	session_begin(&s, cin);
	if ((sigfd = session_sigfd()) == -1)
		return EXIT_SYS;
	sfd = conn_to_target(c->target, c->ntarget, c->connect_ms, s.server,
	    sizeof(s.server), why, sizeof(why));
	if (sfd == -1) {
		log_event(LOG_WARNING, "fail sid=%s client=%s target=%s "
		    "error=\"%s\"", s.sid, s.client, c->target_spec, why);
		conn_abort(cin);
		if (cout != cin)
			conn_abort(cout);
		return EXIT_SYS;
	}
	conn_tune(cin);
	conn_tune(sfd);
	log_event(LOG_INFO, "open sid=%s client=%s server=%s", s.sid,
	    s.client, s.server);
	setproctitle("%s -> %s", s.client, s.server);
	e.cin = cin;
	e.cout = cout;
	e.sin = e.sout = sfd;
	rc = relay_run(&s, &e, &c->ro, sigfd);
	close(sigfd);
	return rc == 0 ? 0 : EXIT_SYS;
}

/* Exec mode: PROG gets the socket itself on fds 0 and 1. */
int
session_exec(const struct serve_ctx *c, int fd)
{
	struct session s;

	session_begin(&s, fd);
	log_event(LOG_INFO, "open sid=%s client=%s prog=%s", s.sid, s.client,
	    c->prog[0]);
	if (dup2(fd, STDIN_FILENO) == -1 || dup2(fd, STDOUT_FILENO) == -1) {
		log_event(LOG_ERR, "error sid=%s dup2: %s", s.sid,
		    strerror(errno));
		return EXIT_SYS;
	}
	exec_prog(c->prog);
}

/* The listener's handler, in the forked child. */
int
session_serve(int fd, void *arg)
{
	const struct serve_ctx *c = arg;

	if (c->prog != NULL)
		return session_exec(c, fd);
	return session_relay(c, fd, fd);
}
