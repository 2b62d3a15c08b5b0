/*
 * Who may connect: -A (allow) and -D (deny) ranges in command-line
 * order, first match wins; with no match, allow unless an allow list
 * was given.  And -C: how many connections one client may hold.
 */

#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tcptap.h"

/* Add "-A CIDR" or "-D CIDR"; -1 if CIDR is not a range. */
int
access_add(struct access *a, int allow, const char *spec)
{
	struct rule *r;

	if ((r = reallocarray(a->rules, (size_t)a->n + 1, sizeof(*r))) == NULL)
		return -1;
	a->rules = r;
	r = &a->rules[a->n];
	if (cidr_parse(spec, &r->net) == -1)
		return -1;
	r->allow = allow;
	snprintf(r->text, sizeof(r->text), "%s:%s", allow ? "allow" : "deny",
	    spec);
	if (allow)
		a->any_allow = 1;
	a->n++;
	return 0;
}

/*
 * The rule for a client: its text (for the log and TCPTAP_RULE), and
 * whether it lets the client in.  A unix-socket client has no address
 * and matches no range.
 */
const char *
access_check(const struct access *a, const struct sockaddr *sa, int *allow)
{
	int i;

	for (i = 0; i < a->n; i++)
		if (cidr_match(&a->rules[i].net, sa)) {
			*allow = a->rules[i].allow;
			return a->rules[i].text;
		}
	*allow = !a->any_allow;
	return *allow ? "default:allow" : "default:deny";
}
