/*
 * The tap stream (DESIGN.md): records of a 64-byte header line
 *	tap1 KIND SID UNIX_US DIR LEN<spaces>\n
 * then LEN payload bytes.  The fixed width lets a reader take exactly
 * the header and splice the payload.
 */

#include <sys/uio.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* Format a header into out[TAP_HDR]; -1 if the fields do not fit. */
int
tap_header(char *out, const char *kind, const char *sid, uint64_t us,
    const char *dir, uint64_t len)
{
	int n;

	if (len > TAP_LEN_MAX)
		return -1;
	n = snprintf(out, TAP_HDR, "tap1 %s %s %llu %s %llu", kind, sid,
	    (unsigned long long)us, dir, (unsigned long long)len);
	if (n < 0 || n > TAP_HDR - 1)
		return -1;
	memset(out + n, ' ', (size_t)(TAP_HDR - 1 - n));
	out[TAP_HDR - 1] = '\n';
	return 0;
}

/* One whole record to a blocking fd, in one writev where it can. */
int
tap_write(int fd, const char *kind, const char *sid, uint64_t us,
    const char *dir, const void *payload, size_t len)
{
	char hdr[TAP_HDR];
	struct iovec iov[2];
	ssize_t n;
	int cnt = 2;

	if (tap_header(hdr, kind, sid, us, dir, len) == -1) {
		errno = EINVAL;
		return -1;
	}
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)payload;
	iov[1].iov_len = len;
	while (cnt > 0) {
		if ((n = writev(fd, iov + 2 - cnt, cnt)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		while (cnt > 0 && (size_t)n >= iov[2 - cnt].iov_len) {
			n -= (ssize_t)iov[2 - cnt].iov_len;
			cnt--;
		}
		if (cnt > 0) {
			iov[2 - cnt].iov_base = (char *)iov[2 - cnt].iov_base + n;
			iov[2 - cnt].iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* The reader follows. */
