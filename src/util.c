/* Small helpers every tcptap program shares. */

#include <sys/types.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "tcptap.h"

uint64_t
now_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		err(EXIT_SYS, "clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
mono_us(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(EXIT_SYS, "clock_gettime");
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
fd_setfl(int fd, int on, int flag)
{
	int fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1)
		return -1;
	fl = on ? fl | flag : fl & ~flag;
	return fcntl(fd, F_SETFL, fl);
}

int
fd_nonblock(int fd)
{
	return fd_setfl(fd, 1, O_NONBLOCK);
}

int
fd_block(int fd)
{
	return fd_setfl(fd, 0, O_NONBLOCK);
}

/* Write all of buf to a blocking fd; -1 with errno on failure. */
int
write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Before exec: a child inherits ignored signals and the mask
 * (NOTES.md 7), and a filter must start with the defaults.
 */
void
child_reset_signals(void)
{
	sigset_t none;
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)signal(sig, SIG_DFL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* Wait up to ms for a child, then kill it: never leave a zombie. */
void
child_wait(pid_t pid, int ms)
{
	int i, st;

	for (i = 0; i < ms / 10; i++) {
		if (waitpid(pid, &st, WNOHANG) != 0)
			return;
		(void)poll(NULL, 0, 10);
	}
	(void)kill(pid, SIGKILL);
	(void)waitpid(pid, &st, 0);
}
