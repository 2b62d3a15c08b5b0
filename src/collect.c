/*
 * --shared-tap: one program for all sessions of a listener.  Each
 * relay writes its tap stream into a pipe of its own; the listener
 * moves whole records from those pipes into the shared tap's stdin,
 * one record at a time, round-robin, so sessions interleave only at
 * record borders and none waits behind the others forever.  The fixed
 * 64-byte header is what makes this cheap: read 64 bytes, learn LEN,
 * splice(2) LEN bytes.
 */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define FINISH_MS	5000	/* for the shared tap to exit after EOF */

/* Start CMD with a pipe on its stdin. */
int
collector_start(struct collector *c, const char *cmd, int max,
    int pipe_size)
{
	int p[2];

	memset(c, 0, sizeof(*c));
	c->cmd = cmd;
	c->cur = -1;
	c->pipe_size = pipe_size;
	if ((c->f = calloc((size_t)max, sizeof(*c->f))) == NULL)
		return -1;
	c->nf = max;
	for (int i = 0; i < max; i++)
		c->f[i].fd = -1;
	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	if ((c->pid = fork()) == -1)
		return -1;
	if (c->pid == 0) {
		if (dup2(p[0], STDIN_FILENO) == -1)
			_exit(EXIT_SYS);
		child_reset_signals();
		closefrom(3);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	(void)close(p[0]);
	c->fd = p[1];
	(void)fcntl(c->fd, F_SETPIPE_SZ, pipe_size);
	return fd_nonblock(c->fd);
}

/*
 * A pipe for the next relay: the collector keeps the read end and
 * returns the write end, for the child.  -1 when there is no shared
 * tap (any more) or no room.
 */
int
collector_attach(struct collector *c)
{
	int p[2], i;

	if (c->fd == -1)
		return -1;
	for (i = 0; i < c->nf && c->f[i].fd != -1; i++)
		;
	if (i == c->nf || pipe2(p, O_CLOEXEC) == -1)
		return -1;
	(void)fcntl(p[1], F_SETPIPE_SZ, c->pipe_size);
	if (fd_nonblock(p[0]) == -1) {
		(void)close(p[0]);
		(void)close(p[1]);
		return -1;
	}
	memset(&c->f[i], 0, sizeof(c->f[i]));
	c->f[i].fd = p[0];
	return p[1];
}

/*
 * In a relay: hold no collector fd but its own write end, or a relay's
 * EOF and the shared tap's EOF would wait for unrelated processes.
 */
void
collector_child(struct collector *c, int keep)
{
	int i;

	for (i = 0; i < c->nf; i++)
		if (c->f[i].fd != -1 && c->f[i].fd != keep)
			(void)close(c->f[i].fd);
	if (c->fd != -1)
		(void)close(c->fd);
}

static void
feeder_close(struct collector *c, int i)
{
	(void)close(c->f[i].fd);
	c->f[i].fd = -1;
	if (c->cur == i)
		c->cur = -1;
}

/* The shared tap is gone: say so once, and stop taking records. */
static void
collector_lost(struct collector *c, int e)
{
	int i;

	log_event(LOG_WARNING, "tap shared cmd=\"%s\" dropped: %s", c->cmd,
	    e == EPIPE ? "tap exited" : strerror(e));
	(void)close(c->fd);
	c->fd = -1;
	for (i = 0; i < c->nf; i++)
		if (c->f[i].fd != -1)
			feeder_close(c, i);
}

/* Read the next header of feeder i; 1 when a record is ready to move. */
static int
feeder_header(struct collector *c, int i)
{
	struct feeder *f = &c->f[i];
	struct tap_rec rec;
	const char *bad;
	ssize_t n;

	while (f->have < TAP_HDR) {
		n = read(f->fd, f->hdr + f->have, TAP_HDR - f->have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return 0;
		if (n <= 0) {		/* the relay is done */
			feeder_close(c, i);
			return 0;
		}
		f->have += (size_t)n;
	}
	if ((bad = tap_parse(f->hdr, &rec)) != NULL) {
		log_event(LOG_ERR, "error shared tap: bad header (%s)", bad);
		feeder_close(c, i);
		return 0;
	}
	f->left = rec.len;
	f->sent = 0;
	return 1;
}

/* Move the current record on; 1 when it is through. */
static int
feeder_move(struct collector *c)
{
	struct feeder *f = &c->f[c->cur];
	ssize_t n;

	while (f->sent < TAP_HDR) {
		n = write(c->fd, f->hdr + f->sent, TAP_HDR - f->sent);
		if (n == -1)
			goto fail;
		f->sent += (size_t)n;
	}
	while (f->left > 0) {
		n = splice(f->fd, NULL, c->fd, NULL, f->left,
		    SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n == 0) {	/* the relay died inside a record */
			log_event(LOG_WARNING, "tap shared: a relay ended "
			    "inside a record");
			collector_lost(c, EPIPE);
			return 0;
		}
		if (n == -1)
			goto fail;
		f->left -= (uint64_t)n;
	}
	f->have = 0;
	c->cur = -1;
	return 1;
fail:
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	collector_lost(c, errno);
	return 0;
}

/* What to wait for: the current record's two ends, or every feeder. */
nfds_t
collector_want(const struct collector *c, struct pollfd *pfd)
{
	nfds_t n = 0;
	int i;

	if (c->fd == -1)
		return 0;
	if (c->cur != -1) {
		pfd[n].fd = c->fd;
		pfd[n++].events = POLLOUT;
		pfd[n].fd = c->f[c->cur].fd;
		pfd[n++].events = POLLIN;
		return n;
	}
	for (i = 0; i < c->nf; i++)
		if (c->f[i].fd != -1) {
			pfd[n].fd = c->f[i].fd;
			pfd[n++].events = POLLIN;
		}
	return n;
}

/* Move records until something would block; one per feeder per round. */
void
collector_pump(struct collector *c)
{
	int i, tries;

	for (tries = 0; c->fd != -1 && tries <= c->nf; tries++) {
		if (c->cur != -1) {
			if (!feeder_move(c))
				return;
			continue;
		}
		for (i = 0; i < c->nf; i++) {
			int j = (c->next + i) % c->nf;

			if (c->f[j].fd != -1 && feeder_header(c, j)) {
				c->cur = j;
				c->next = (j + 1) % c->nf;
				break;
			}
		}
		if (c->cur == -1)
			return;
	}
}

/* Records still to come: a relay's pipe not yet at EOF. */
int
collector_busy(const struct collector *c)
{
	int i;

	if (c->fd == -1)
		return 0;
	for (i = 0; i < c->nf; i++)
		if (c->f[i].fd != -1)
			return 1;
	return 0;
}

/* EOF to the shared tap; reap it. */
void
collector_finish(struct collector *c)
{
	int i;

	if (c->fd != -1)
		(void)close(c->fd);
	c->fd = -1;
	for (i = 0; i < c->nf; i++)
		if (c->f[i].fd != -1)
			feeder_close(c, i);
	if (c->pid > 0)
		child_wait(c->pid, FINISH_MS);
	free(c->f);
	c->f = NULL;
}
