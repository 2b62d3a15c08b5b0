/*
 * The event log: one line per event, keyword first.  On stderr, or on
 * syslog when stderr is the client's socket (inetd), since a line
 * written there would reach the client as data.
 */

#include <sys/stat.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>
#include <unistd.h>

#include "tcptap.h"

/* Process-wide like err(3)'s program name: set once at start. */
static int log_max = LOG_INFO;
static int log_to_syslog;

void
log_init(int max, int use_syslog)
{
	log_max = max;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(getprogname(), LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_event(int pri, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (pri > log_max)
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (log_to_syslog) {
		syslog(pri, "%s", line);
		return;
	}
	/* One write per line, so concurrent relays never interleave. */
	(void)dprintf(STDERR_FILENO, "%s: %s\n", getprogname(), line);
}

/* Is fd 2 the very socket on fd 0, as real inetd arranges it? */
int
log_fd2_is_socket0(void)
{
	struct stat s0, s2;

	if (fstat(STDIN_FILENO, &s0) == -1 || fstat(STDERR_FILENO, &s2) == -1)
		return 0;
	return S_ISSOCK(s0.st_mode) && s0.st_dev == s2.st_dev &&
	    s0.st_ino == s2.st_ino;
}
