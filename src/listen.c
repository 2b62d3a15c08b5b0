/*
 * The listener: accept each connection and hand it to a spare relay or
 * fork one, within the -c limit, until SIGTERM/SIGINT; then drain the
 * live connections within the -T deadline.
 */

#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define BACKOFF_MS	100	/* after EMFILE, ENFILE or a failed fork */
#define KILL_GRACE_MS	2000	/* SIGTERM to SIGKILL for stuck relays */
#define REUSE_MAX	10000	/* connections one relay serves, at most */
#define TRIM_MS		1000	/* extra spares linger this long */

/* Small: the listener scans these, and so does every fork. */
struct kid {
	pid_t		 pid;
	int		 ctl;	/* job socket, -1: not to be reused */
	int		 busy;	/* serving a connection, else idle */
};

/*
 * The relays: n processes, of which busy serve a connection, idle wait
 * on their job socket, and the rest are on their way out.  At most
 * 2 x spare hold a job socket, so a burst leaves few behind.
 */
struct kids {
	struct kid		*k;
	struct sockaddr_storage	*peer;	/* kid i's client, for -C */
	int			 n, cap, busy, idle, ctls;
	struct pollfd		*pfd;	/* the listener's poll set */
	int			*pfd_kid;	/* kid behind each job socket */
	void			*map;	/* all of the above, one mapping */
	size_t			 maplen;
};

/*
 * The tables for cap relays and nfds listening sockets, in a mapping of
 * their own.  The listener writes to them after every fork, so each
 * relay's copy of a written page is its alone; a relay that unmaps the
 * tables whole drops those pages, where free(3) would keep them.
 */
static void
kids_alloc(struct kids *k, int cap, size_t nfds)
{
	size_t o_peer, o_pfd, o_kid, npfd = nfds + 3 + 2 * (size_t)cap;
	char *p;

	memset(k, 0, sizeof(*k));
	k->cap = cap;
	o_peer = (size_t)cap * sizeof(*k->k);
	o_peer += -o_peer % _Alignof(struct sockaddr_storage);
	o_pfd = o_peer + (size_t)cap * sizeof(*k->peer);
	o_kid = o_pfd + npfd * sizeof(*k->pfd);
	k->maplen = o_kid + (size_t)cap * sizeof(*k->pfd_kid);
	p = mmap(NULL, k->maplen, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		err(EXIT_SYS, "mmap");
	k->map = p;
	k->k = (struct kid *)(void *)p;
	k->peer = (struct sockaddr_storage *)(void *)(p + o_peer);
	k->pfd = (struct pollfd *)(void *)(p + o_pfd);
	k->pfd_kid = (int *)(void *)(p + o_kid);
}

static void
kids_free(struct kids *k)
{
	(void)munmap(k->map, k->maplen);
}

static int
ms_until(uint64_t when)
{
	uint64_t now = mono_us();

	return when <= now ? 0 : (int)((when - now + 999) / 1000);
}

/*
 * The capture switch, in memory the relays share with the listener:
 * a relay the listener signals reads the switch's state rather than
 * trusting the signal, because signals merge and lose their order.
 */
static volatile int *
capture_page(void)
{
	void *p;

	p = mmap(NULL, sizeof(int), PROT_READ | PROT_WRITE,
	    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		err(EXIT_SYS, "mmap");
	return p;
}

/* The listener will not reuse kid i: it leaves once it is done. */
static void
kid_retire(struct kids *k, int i)
{
	struct kid *c = &k->k[i];

	if (c->ctl == -1)
		return;
	(void)close(c->ctl);
	c->ctl = -1;
	k->ctls--;
	if (!c->busy)
		k->idle--;
}

/* Kid i says its connection is over: keep it as a spare, or not. */
static void
kid_done(struct kids *k, int i, int draining)
{
	struct kid *c = &k->k[i];
	char b;

	if (recv(c->ctl, &b, 1, MSG_DONTWAIT) != 1) {
		if (errno != EAGAIN)	/* EOF: it exec'd PROG, or died */
			kid_retire(k, i);
		return;
	}
	c->busy = 0;
	k->busy--;
	k->idle++;
	if (draining)
		kid_retire(k, i);
}

/*
 * Spares beyond --spare leave, but only after a second: clients that
 * reconnect at once need more relays than are busy at any moment, and
 * retiring the extras at once would only fork them again.  Returns the
 * ms until the next trim, or -1.
 */
static int
kids_trim(const struct listener *l, struct kids *k, uint64_t *trim_at)
{
	int i;

	if (k->idle <= l->spare) {
		*trim_at = 0;
		return -1;
	}
	if (*trim_at == 0)
		*trim_at = mono_us() + TRIM_MS * 1000;
	if (ms_until(*trim_at) > 0)
		return ms_until(*trim_at);
	for (i = 0; i < k->n && k->idle > l->spare; i++)
		if (!k->k[i].busy)
			kid_retire(k, i);
	*trim_at = 0;
	return -1;
}

/* A spare relay for the next connection, or -1. */
static int
kids_idle(const struct kids *k)
{
	int i;

	for (i = 0; k->idle > 0 && i < k->n; i++)
		if (!k->k[i].busy && k->k[i].ctl != -1)
			return i;
	return -1;
}

static void
kids_reap(struct kids *k)
{
	pid_t pid;
	int i, status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < k->n; i++)
			if (k->k[i].pid == pid) {
				kid_retire(k, i);
				if (k->k[i].busy)
					k->busy--;
				k->k[i] = k->k[--k->n];
				k->peer[i] = k->peer[k->n];
				break;
			}
}

static void
kids_signal(const struct kids *k, int sig, int busy_only)
{
	int i;

	for (i = 0; i < k->n; i++)
		if (k->k[i].busy || !busy_only)
			(void)kill(k->k[i].pid, sig);
}

/*
 * The child's start: its own signals, no listener fds; then serve
 * connections, the first one this fork was for and then, while the
 * listener hands it jobs on ctl, the next ones.
 */
static void __attribute__((noreturn))
child_serve(struct listener *l, struct kids *k, int sigfd, int fd,
    int shared_fd, int ctl, const char *first_rule,
    int (*serve)(int, int, const volatile int *, void *), void *arg)
{
	char rule[SPARE_RULE_MAX];
	size_t i;
	int left, n, rc;

	for (n = 0, left = k->ctls; left > 0 && n < k->n; n++)
		if (k->k[n].ctl != -1) {	/* the listener's job sockets */
			(void)close(k->k[n].ctl);
			left--;
		}
	kids_free(k);		/* the listener's, not this child's */
	for (i = 0; i < l->nfds; i++)
		(void)close(l->fds[i]);
	(void)close(sigfd);
	if (l->shared != NULL)
		collector_child(l->shared, shared_fd);
	/* ^C at a terminal drains through the listener, not here. */
	(void)signal(SIGINT, SIG_IGN);
	(void)strlcpy(rule, first_rule, sizeof(rule));
	for (n = 1;; n++) {
		/* Until the session names itself: never a stale "spare". */
		setproctitle("connecting");
		if (setenv("TCPTAP_RULE", rule, 1) == -1)
			log_event(LOG_WARNING, "warn setenv: %s",
			    strerror(errno));
		rc = serve(fd, shared_fd, l->capture_off, arg);
		if (ctl == -1 || n == REUSE_MAX || spare_done(ctl) == -1)
			break;
		setproctitle("spare");
		if ((fd = spare_wait(ctl, rule, sizeof(rule))) == -1)
			break;
	}
	_exit(rc);
}

/*
 * Let the client in, or close it at once (a reset, so it knows) with
 * one log line: denied by a rule, or over the -C limit.  Returns the
 * rule that let it in.
 */
static const char *
admit(struct listener *l, const struct kids *k, int fd,
    const struct sockaddr_storage *ss)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	char name[ADDR_STRLEN];
	const char *rule;
	int allow, i, same = 0;

	rule = access_check(&l->access, sa, &allow);
	if (allow && l->per_client == 0)
		return rule;
	for (i = 0; allow && i < k->n; i++)
		same += k->k[i].busy && cidr_same_client(sa,
		    (const struct sockaddr *)&k->peer[i], l->v6_bits);
	if (allow && same < l->per_client)
		return rule;
	addr_peer(fd, name, sizeof(name));
	if (!allow)
		log_event(LOG_WARNING, "deny client=%s rule=%s", name, rule);
	else
		log_event(LOG_WARNING, "limit client=%s conns=%d max=%d", name,
		    same, l->per_client);
	conn_abort(fd);
	return NULL;
}

/* A connection found its relay: resources are back, if they ran out. */
static void
backoff_over(struct listener *l)
{
	if (l->starved)
		log_event(LOG_WARNING, "backoff over");
	l->starved = 0;
}

/* Hand fd to a spare relay.  Returns 0, or -1 when none took it. */
static int
accept_to_spare(struct listener *l, struct kids *k, int fd, const char *rule,
    const struct sockaddr_storage *ss)
{
	int i;

	while ((i = kids_idle(k)) != -1) {
		if (spare_send(k->k[i].ctl, fd, rule) == -1) {
			kid_retire(k, i);	/* it died: SIGCHLD will say */
			continue;
		}
		k->k[i].busy = 1;
		k->peer[i] = *ss;
		k->idle--;
		k->busy++;
		(void)close(fd);
		backoff_over(l);
		return 0;
	}
	return -1;
}

/*
 * Accept one connection and give it to a spare relay, or fork its
 * child.  Returns the backoff in ms when resources ran out, else 0.
 */
static int
accept_one(struct listener *l, int lfd, int sigfd, struct kids *k,
    int (*serve)(int, int, const volatile int *, void *), void *arg)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const char *rule;
	pid_t pid;
	int fd, sfd, ctl[2] = { -1, -1 };

	memset(&ss, 0, sizeof(ss));
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sl,
	    SOCK_CLOEXEC)) == -1) {
		switch (errno) {
		case EMFILE: case ENFILE: case ENOBUFS: case ENOMEM:
			if (!l->starved)	/* once per burst */
				log_event(LOG_WARNING, "backoff accept: %s",
				    strerror(errno));
			l->starved = 1;
			return BACKOFF_MS;
		default:	/* EAGAIN, ECONNABORTED, EINTR, EPROTO */
			return 0;
		}
	}
	if ((rule = admit(l, k, fd, &ss)) == NULL ||
	    accept_to_spare(l, k, fd, rule, &ss) == 0)
		return 0;
	if (k->ctls < 2 * l->spare && spare_pair(ctl) == -1)
		ctl[0] = ctl[1] = -1;	/* then this one is not reused */
	sfd = l->shared != NULL ? collector_attach(l->shared) : -1;
	if ((pid = fork()) == -1) {
		if (sfd != -1)
			(void)close(sfd);
		if (ctl[0] != -1) {
			(void)close(ctl[0]);
			(void)close(ctl[1]);
		}
		if (!l->starved)
			log_event(LOG_WARNING, "backoff fork: %s",
			    strerror(errno));
		l->starved = 1;
		conn_abort(fd);
		return BACKOFF_MS;
	}
	if (pid == 0) {
		if (ctl[0] != -1)
			(void)close(ctl[0]);
		child_serve(l, k, sigfd, fd, sfd, ctl[1], rule, serve, arg);
	}
	if (sfd != -1)
		(void)close(sfd);
	backoff_over(l);
	(void)close(fd);
	if (ctl[1] != -1) {
		(void)close(ctl[1]);
		k->ctls++;
	}
	k->k[k->n].pid = pid;
	k->k[k->n].ctl = ctl[0];
	k->k[k->n].busy = 1;
	k->peer[k->n++] = ss;
	k->busy++;
	return 0;
}

/*
 * SIGUSR1: taps off, SIGUSR2: on, for new connections and, forwarded,
 * for live relays (never for taps: they are the relays' children, and
 * never for a PROG that holds the socket itself).  Idempotent, so
 * merged signals do no harm.
 */
static void
capture_switch(struct listener *l, const struct kids *k, int on)
{
	if (*l->capture_off != !on)
		log_event(LOG_INFO, "capture %s conns=%d", on ? "on" : "off",
		    k->busy);
	*l->capture_off = !on;
	if (l->kids_relay)
		kids_signal(k, on ? SIGUSR2 : SIGUSR1, 1);
}

/* Returns 1 when the listener should stop. */
static int
listen_signal(struct listener *l, int sigfd, struct kids *k,
    uint64_t *deadline)
{
	struct signalfd_siginfo si;

	if (read(sigfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return 0;
	if (si.ssi_signo == SIGCHLD) {
		kids_reap(k);
		return 0;
	}
	if (si.ssi_signo == SIGUSR1 || si.ssi_signo == SIGUSR2) {
		capture_switch(l, k, si.ssi_signo == SIGUSR2);
		return 0;
	}
	if (*deadline != 0)	/* a second signal: end them now */
		*deadline = mono_us();
	else {
		listen_close(l);
		for (int i = 0; i < k->n; i++)	/* spares: leave now */
			if (!k->k[i].busy)
				kid_retire(k, i);
		*deadline = mono_us() + (uint64_t)l->drain_s * 1000000;
		log_event(LOG_INFO, "drain conns=%d secs=%d", k->busy,
		    l->drain_s);
	}
	return 1;
}

/* Past the deadline SIGTERM the relays, then SIGKILL the stuck ones. */
static int
drain_step(const struct kids *k, uint64_t deadline, uint64_t *killat)
{
	if (*killat == 0 && ms_until(deadline) == 0) {
		log_event(LOG_INFO, "drain deadline conns=%d", k->busy);
		kids_signal(k, SIGTERM, 0);
		*killat = mono_us() + KILL_GRACE_MS * 1000;
	}
	if (*killat != 0 && ms_until(*killat) == 0) {
		kids_signal(k, SIGKILL, 0);
		*killat = mono_us() + 100 * 1000;
	}
	return *killat != 0 ? ms_until(*killat) : ms_until(deadline);
}

/*
 * Serve until SIGTERM or SIGINT, then drain: live connections get
 * drain_s seconds, then SIGTERM (they end as "shutdown"), then SIGKILL.
 */
int
listen_serve(struct listener *l,
    int (*serve)(int, int, const volatile int *, void *), void *arg)
{
	struct pollfd *pfd;
	struct kids k;
	sigset_t mask;
	uint64_t deadline = 0, backoff = 0, killat = 0, trim_at = 0;
	nfds_t n, i, nlisten, nctl;
	int sigfd, ms, tms;

	/* A shared tap that exits is an outcome, not a reason to die. */
	(void)signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1 ||
	    (sigfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		err(EXIT_SYS, "signalfd");
	l->capture_off = capture_page();
	kids_alloc(&k, l->max_conns + 2 * l->spare, l->nfds);
	pfd = k.pfd;
	for (;;) {
		if (deadline != 0 && k.n == 0 && (l->shared == NULL ||
		    !collector_busy(l->shared)))
			break;
		pfd[0].fd = sigfd;
		pfd[0].events = POLLIN;
		n = 1;
		ms = -1;
		if (deadline == 0 && k.busy < l->max_conns && k.n < k.cap &&
		    (ms = ms_until(backoff)) == 0) {
			ms = -1;
			for (i = 0; i < l->nfds; i++, n++) {
				pfd[n].fd = l->fds[i];
				pfd[n].events = POLLIN;
			}
		}
		nlisten = n;
		for (i = 0; i < (nfds_t)k.n; i++)	/* who says done */
			if (k.k[i].busy && k.k[i].ctl != -1) {
				k.pfd_kid[n - nlisten] = (int)i;
				pfd[n].fd = k.k[i].ctl;
				pfd[n++].events = POLLIN;
			}
		nctl = n;
		if (deadline != 0)
			ms = drain_step(&k, deadline, &killat);
		else if ((tms = kids_trim(l, &k, &trim_at)) != -1 &&
		    (ms == -1 || tms < ms))
			ms = tms;
		if (l->shared != NULL)
			n += collector_want(l->shared, pfd + n);
		if (poll(pfd, n, ms) == -1) {
			if (errno == EINTR)
				continue;
			err(EXIT_SYS, "poll");
		}
		if (pfd[0].revents != 0 &&
		    listen_signal(l, sigfd, &k, &deadline))
			continue;
		for (i = nlisten; i < nctl; i++)
			if (pfd[i].revents != 0)
				kid_done(&k, k.pfd_kid[i - nlisten],
				    deadline != 0);
		if (l->shared != NULL && n > nctl)
			collector_pump(l->shared);
		for (i = 1; i < nlisten && k.busy < l->max_conns &&
		    k.n < k.cap; i++)
			if (pfd[i].revents != 0 && accept_one(l, pfd[i].fd,
			    sigfd, &k, serve, arg) > 0)
				backoff = mono_us() + BACKOFF_MS * 1000;
	}
	listen_close(l);
	if (l->shared != NULL)
		collector_finish(l->shared);
	kids_free(&k);
	close(sigfd);
	log_event(LOG_INFO, "exit");
	return 0;
}
