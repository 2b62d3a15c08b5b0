/*
 * Session ids: the wall clock in microseconds and the pid of the relay,
 * both in base 36.  One relay process makes one id, and no two live
 * processes share a pid within one microsecond, so ids are unique on
 * the host across listener runs and inetd instances, and sort by time.
 */

#include <string.h>
#include <unistd.h>

#include "tcptap.h"

static size_t
base36(char *buf, uint64_t v)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	char tmp[16];
	size_t n = 0, i;

	do {
		tmp[n++] = digits[v % 36];
		v /= 36;
	} while (v != 0 && n < sizeof(tmp));
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

void
sid_make(char *buf, size_t len)
{
	char tmp[32];
	size_t n;

	n = base36(tmp, now_us());
	tmp[n++] = '-';
	n += base36(tmp + n, (uint64_t)getpid());
	tmp[n] = '\0';
	strlcpy(buf, tmp, len);
}
