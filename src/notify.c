/* Telling whoever started the listener that it is ready. */

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* systemd's sd_notify("READY=1"), without libsystemd. */
int
notify_ready(void)
{
	struct sockaddr_un sun;
	const char *path, msg[] = "READY=1";
	socklen_t len;
	int fd, r;

	if ((path = getenv("NOTIFY_SOCKET")) == NULL || *path == '\0')
		return 0;
	if ((*path != '/' && *path != '@') ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		errno = EINVAL;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (*path == '@')
		sun.sun_path[0] = '\0';	/* abstract namespace */
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = sendto(fd, msg, sizeof(msg) - 1, 0, (struct sockaddr *)&sun, len);
	close(fd);
	return r == -1 ? -1 : 0;
}

/*
 * Write the bound port to FILE by rename, so a reader that sees the
 * file sees the whole number.
 */
int
portfile_write(const char *file, int port)
{
	char tmp[4096];
	FILE *f;
	int r;

	if (snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", file, (long)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	r = fprintf(f, "%d\n", port);
	if (fclose(f) == EOF || r < 0) {
		(void)unlink(tmp);
		return -1;
	}
	if (rename(tmp, file) == -1) {
		(void)unlink(tmp);
		return -1;
	}
	return 0;
}
