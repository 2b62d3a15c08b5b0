/* -u USER[:GROUP]: give up root once the sockets are bound. */

#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

/* Resolve USER[:GROUP] to ids; -1 with a message in err. */
int
priv_lookup(const char *spec, uid_t *uid, gid_t *gid, char *err,
    size_t errlen)
{
	char user[256], *colon;
	struct passwd *pw;
	struct group *gr;

	if (strlcpy(user, spec, sizeof(user)) >= sizeof(user)) {
		strlcpy(err, "name too long", errlen);
		return -1;
	}
	if ((colon = strchr(user, ':')) != NULL)
		*colon++ = '\0';
	if ((pw = getpwnam(user)) == NULL) {
		strlcpy(err, "no such user", errlen);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (colon != NULL) {
		if ((gr = getgrnam(colon)) == NULL) {
			strlcpy(err, "no such group", errlen);
			return -1;
		}
		*gid = gr->gr_gid;
	}
	return 0;
}

/*
 * setgroups, setgid, setuid, each checked, then proof that root is
 * gone for good: a relay serving the network must not get it back.
 */
void
priv_drop(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) == -1)
		err(EXIT_SYS, "setgroups");
	if (setgid(gid) == -1)
		err(EXIT_SYS, "setgid %lu", (unsigned long)gid);
	if (setuid(uid) == -1)
		err(EXIT_SYS, "setuid %lu", (unsigned long)uid);
	if (getuid() != uid || geteuid() != uid || getgid() != gid ||
	    getegid() != gid)
		errx(EXIT_SYS, "privileges not dropped");
	if (uid != 0 && setuid(0) != -1)
		errx(EXIT_SYS, "setuid(0) still works after dropping root");
}
