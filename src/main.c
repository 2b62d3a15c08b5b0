/*
 * tcptap: relay TCP connections, or run a program per connection, and
 * show what flows.  This file decides how we were started (standalone,
 * sd, --inetd) and hands every connection to the one session code.
 */

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tcptap.h"

#define DEFAULT_PIPE_SIZE	(256 * 1024)

enum {
	OPT_INETD = 256, OPT_NO_SPLICE, OPT_CONNECT_TIMEOUT, OPT_PIPE_SIZE,
	OPT_TAP_TIMEOUT, OPT_PROXY, OPT_SHARED_TAP, OPT_NO_ROOT_TAPS,
	OPT_IPV6_PREFIX, OPT_TAP_POLICY, OPT_TAP_POINT, OPT_SPARE,
};

static const struct option longopts[] = {
	{ "inetd",		no_argument,		NULL, OPT_INETD },
	{ "no-splice",		no_argument,		NULL, OPT_NO_SPLICE },
	{ "connect-timeout",	required_argument,	NULL,
	    OPT_CONNECT_TIMEOUT },
	{ "tap-point",		required_argument,	NULL, OPT_TAP_POINT },
	{ "tap-policy",		required_argument,	NULL, OPT_TAP_POLICY },
	{ "tap-timeout",	required_argument,	NULL, OPT_TAP_TIMEOUT },
	{ "proxy-protocol",	required_argument,	NULL, OPT_PROXY },
	{ "ipv6-prefix",	required_argument,	NULL, OPT_IPV6_PREFIX },
	{ "no-root-taps",	no_argument,		NULL, OPT_NO_ROOT_TAPS },
	{ "shared-tap",		required_argument,	NULL, OPT_SHARED_TAP },
	{ "spare",		required_argument,	NULL, OPT_SPARE },
	{ "pipe-size",		required_argument,	NULL, OPT_PIPE_SIZE },
	{ "help",		no_argument,		NULL, 'h' },
	{ "version",		no_argument,		NULL, 'V' },
	{ NULL,			0,			NULL, 0 },
};

struct opts {
	int		 backlog;
	int		 inetd;
	int		 verbosity;
	const char	*portfile;
	char		*shared_tap;	/* --shared-tap */
	const char	*user;		/* -u */
	int		 no_root_taps;
	struct collector coll;
	struct listener	 l;
	struct serve_ctx ctx;
};

static void __attribute__((noreturn))
usage(int status)
{
	FILE *f = status == 0 ? stdout : stderr;

	fprintf(f,
"usage: tcptap [-qv] [-A cidr] [-b backlog] [-C conns] [-c conns] [-D cidr]\n"
"              [-P portfile] [-T secs] [-t cmd] [-u user[:group]] [-w secs]\n"
"              [-x dir:cmd] [--connect-timeout secs] [--ipv6-prefix bits]\n"
"              [--no-root-taps] [--no-splice] [--pipe-size bytes]\n"
"              [--proxy-protocol v1|v2] [--shared-tap cmd] [--spare relays]\n"
"              [--tap-point sent|delivered] [--tap-policy wait|drop]\n"
"              [--tap-timeout secs] listen target\n"
"       tcptap [options] listen -- prog [arg ...]\n"
"       tcptap --inetd [options] target\n");
	exit(status);
}

/* A number from the command line, or a usage error naming the option. */
static int
opt_num(const char *s, long long min, long long max, const char *what)
{
	const char *errstr;
	long long n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL) {
		warnx("%s %s: %s", what, s, errstr);
		usage(EXIT_USAGE);
	}
	return (int)n;
}

static void
add_tap(struct serve_ctx *c, char *cmd)
{
	c->taps = reallocarray(c->taps, (size_t)c->ntaps + 1, sizeof(char *));
	if (c->taps == NULL)
		err(EXIT_SYS, "reallocarray");
	c->taps[c->ntaps++] = cmd;
}

/* -x c2s:CMD or -x s2c:CMD: a filter in that direction's data path. */
static void
add_inline(struct serve_ctx *c, char *arg)
{
	int d;

	if (strncmp(arg, "c2s:", 4) == 0)
		d = 0;
	else if (strncmp(arg, "s2c:", 4) == 0)
		d = 1;
	else {
		warnx("-x %s: not c2s:CMD or s2c:CMD", arg);
		usage(EXIT_USAGE);
	}
	c->inl[d] = reallocarray(c->inl[d], (size_t)c->ninl[d] + 1,
	    sizeof(char *));
	if (c->inl[d] == NULL)
		err(EXIT_SYS, "reallocarray");
	c->inl[d][c->ninl[d]++] = arg + 4;
}

static void
parse_opts(int argc, char *argv[], struct opts *o)
{
	int ch;

	while ((ch = getopt_long(argc, argv, "+A:b:C:c:D:hP:qT:t:u:vVw:x:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'A':
		case 'D':
			if (access_add(&o->l.access, ch == 'A', optarg) == -1) {
				warnx("-%c %s: not an address range", ch,
				    optarg);
				usage(EXIT_USAGE);
			}
			break;
		case 'C':
			o->l.per_client = opt_num(optarg, 1, 1000000, "-C");
			break;
		case 'u':
			o->user = optarg;
			break;
		case OPT_NO_ROOT_TAPS:
			o->no_root_taps = 1;
			break;
		case OPT_SPARE:
			o->l.spare = opt_num(optarg, 0, 1000, "--spare");
			break;
		case OPT_IPV6_PREFIX:
			o->l.v6_bits = opt_num(optarg, 1, 128, "--ipv6-prefix");
			break;
		case 'x':
			add_inline(&o->ctx, optarg);
			break;
		case 'b':
			o->backlog = opt_num(optarg, 1, INT_MAX, "-b");
			break;
		case 'c':
			o->l.max_conns = opt_num(optarg, 1, 1000000,
			    "-c");
			break;
		case 'h':
			usage(0);
		case 'P':
			o->portfile = optarg;
			break;
		case 'q':
			o->verbosity--;
			break;
		case 'T':
			o->l.drain_s = opt_num(optarg, 0, 86400, "-T");
			break;
		case 't':
			add_tap(&o->ctx, optarg);
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'V':
			printf("tcptap %s\n", TCPTAP_VERSION);
			exit(0);
		case 'w':
			o->ctx.ro.idle_ms = 1000 * opt_num(optarg, 1,
			    86400, "-w");
			break;
		case OPT_INETD:
			o->inetd = 1;
			break;
		case OPT_NO_SPLICE:
			o->ctx.ro.no_splice = 1;
			break;
		case OPT_CONNECT_TIMEOUT:
			o->ctx.connect_ms = 1000 * opt_num(optarg, 1,
			    3600, "--connect-timeout");
			break;
		case OPT_TAP_TIMEOUT:
			o->ctx.tap_timeout_ms = 1000 * opt_num(optarg,
			    1, 86400, "--tap-timeout");
			break;
		case OPT_PROXY:
			if (strcmp(optarg, "v1") != 0 &&
			    strcmp(optarg, "v2") != 0) {
				warnx("--proxy-protocol %s: not v1 or v2",
				    optarg);
				usage(EXIT_USAGE);
			}
			o->ctx.proxy = optarg[1] - '0';
			break;
		case OPT_SHARED_TAP:
			o->shared_tap = optarg;
			break;
		case OPT_TAP_POINT:
			if (strcmp(optarg, "sent") != 0 &&
			    strcmp(optarg, "delivered") != 0) {
				warnx("--tap-point %s: not sent or delivered",
				    optarg);
				usage(EXIT_USAGE);
			}
			o->ctx.ro.tap_delivered = optarg[0] == 'd';
			break;
		case OPT_TAP_POLICY:
			if (strcmp(optarg, "wait") != 0 &&
			    strcmp(optarg, "drop") != 0) {
				warnx("--tap-policy %s: not wait or drop",
				    optarg);
				usage(EXIT_USAGE);
			}
			o->ctx.tap_drop = strcmp(optarg, "drop") == 0;
			break;
		case OPT_PIPE_SIZE:
			o->ctx.ro.pipe_size = opt_num(optarg, 4096,
			    1 << 30, "--pipe-size");
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
}

static void
resolve_target(struct serve_ctx *c, const char *spec)
{
	char msg[256];
	int r;

	c->target_spec = spec;
	r = addr_resolve(spec, 0, &c->target, &c->ntarget, msg, sizeof(msg));
	if (r == ADDR_BADSPEC) {
		warnx("target %s: %s", spec, msg);
		usage(EXIT_USAGE);
	}
	if (r == -1)
		errx(EXIT_SYS, "target %s: %s", spec, msg);
}

/* Log to syslog when fd 2 is the client (inetd): never to the client. */
static void
start_log(const struct opts *o)
{
	int level = o->verbosity < 0 ? LOG_WARNING :
	    o->verbosity > 0 ? LOG_DEBUG : LOG_INFO;
	int fd;

	if (o->inetd && log_fd2_is_socket0()) {
		log_init(level, 1);
		if ((fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) == -1 ||
		    dup2(fd, STDERR_FILENO) == -1)
			err(EXIT_SYS, "/dev/null");
		(void)close(fd);
		return;
	}
	log_init(level, 0);
}

/* -u, then --no-root-taps: who runs the relays and taps from here on. */
static void
become_user(const struct opts *o)
{
	char why[64];
	uid_t uid;
	gid_t gid;

	if (o->user != NULL) {
		if (priv_lookup(o->user, &uid, &gid, why, sizeof(why)) == -1)
			errx(EXIT_SYS, "-u %s: %s", o->user, why);
		priv_drop(uid, gid);
		log_event(LOG_DEBUG, "user uid=%lu gid=%lu",
		    (unsigned long)uid, (unsigned long)gid);
	}
	if (o->no_root_taps && geteuid() == 0 &&
	    (o->ctx.ntaps > 0 || o->shared_tap != NULL))
		errx(EXIT_USAGE, "--no-root-taps: taps would run as root "
		    "(use -u user)");
}

/* inetd does no access control of its own: -A and -D apply here too. */
static int
inetd_admit(const struct opts *o)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char name[ADDR_STRLEN];
	const char *rule;
	int allow;

	memset(&ss, 0, sizeof(ss));
	(void)getpeername(STDIN_FILENO, (struct sockaddr *)&ss, &sl);
	rule = access_check(&o->l.access, (struct sockaddr *)&ss, &allow);
	if (setenv("TCPTAP_RULE", rule, 1) == -1)
		err(EXIT_SYS, "setenv");
	if (allow)
		return 1;
	addr_peer(STDIN_FILENO, name, sizeof(name));
	log_event(LOG_WARNING, "deny client=%s rule=%s", name, rule);
	conn_abort(STDIN_FILENO);
	return 0;
}

static int
run_inetd(struct opts *o, int argc, char *argv[])
{
	if (argc != 1)
		usage(EXIT_USAGE);
	resolve_target(&o->ctx, argv[0]);
	become_user(o);
	if (!inetd_admit(o))
		return 0;
	o->ctx.inetd = 1;
	/* One connection: the shared tap is simply its tap. */
	if (o->shared_tap != NULL)
		add_tap(&o->ctx, o->shared_tap);
	return session_relay(&o->ctx, STDIN_FILENO, STDOUT_FILENO);
}

static int
run_listener(struct opts *o, int argc, char *argv[])
{
	const char *spec = argv[0];
	int r;

	if (argc >= 3 && strcmp(argv[1], "--") == 0)
		o->ctx.prog = argv + 2;
	else if (argc == 2 && strcmp(argv[1], "--") != 0)
		resolve_target(&o->ctx, argv[1]);
	else
		usage(EXIT_USAGE);
	r = strcmp(spec, "sd") == 0 ? listen_sd(&o->l) :
	    listen_open(spec, o->backlog, &o->l);
	if (r == ADDR_BADSPEC)
		usage(EXIT_USAGE);
	if (r == -1)
		return EXIT_SYS;
	if (o->portfile != NULL && portfile_write(o->portfile,
	    listen_port(&o->l)) == -1)
		err(EXIT_SYS, "%s", o->portfile);
	become_user(o);
	if (o->shared_tap != NULL) {
		if (collector_start(&o->coll, o->shared_tap,
		    o->l.max_conns + 2 * o->l.spare,
		    o->ctx.ro.pipe_size) == -1)
			err(EXIT_SYS, "--shared-tap");
		o->l.shared = &o->coll;
	}
	/* Without taps, PROG holds the socket itself: no relay to signal. */
	o->l.kids_relay = o->ctx.prog == NULL || o->ctx.ntaps > 0 ||
	    o->l.shared != NULL || o->ctx.ninl[0] + o->ctx.ninl[1] > 0;
	if (notify_ready() == -1)
		log_event(LOG_WARNING, "warn NOTIFY_SOCKET: %s",
		    strerror(errno));
	for (size_t i = 0; i < o->l.nfds; i++) {
		char a[ADDR_STRLEN];

		addr_local(o->l.fds[i], a, sizeof(a));
		log_event(LOG_INFO, "listen addr=%s %s=%s", a,
		    o->ctx.prog ? "prog" : "target",
		    o->ctx.prog ? o->ctx.prog[0] : o->ctx.target_spec);
	}
	return listen_serve(&o->l, session_serve, &o->ctx);
}

int
main(int argc, char *argv[], char *envp[])
{
	/*
	 * Static: the addresses, rules and commands it holds live as long
	 * as the process, whichever way it exits, and leak checkers see so.
	 */
	static struct opts o;

	setproctitle_init(argc, argv, envp);
	memset(&o, 0, sizeof(o));
	o.backlog = SOMAXCONN;
	o.l.max_conns = 100;
	o.l.drain_s = 5;
	o.ctx.ro.idle_ms = -1;
	o.ctx.ro.pipe_size = DEFAULT_PIPE_SIZE;
	o.ctx.connect_ms = 10000;
	o.ctx.shared_fd = -1;
	o.l.v6_bits = 64;
	o.l.spare = 16;
	parse_opts(argc, argv, &o);
	argc -= optind;
	argv += optind;
	start_log(&o);
	if (o.inetd)
		return run_inetd(&o, argc, argv);
	if (argc < 2)
		usage(EXIT_USAGE);
	return run_listener(&o, argc, argv);
}
