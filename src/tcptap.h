/*
 * tcptap internal interfaces, grouped by the file that defines them.
 * One header on purpose: the programs are small and share one library.
 */
#ifndef TCPTAP_H
#define TCPTAP_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#ifndef TCPTAP_VERSION
#define TCPTAP_VERSION "0.1"
#endif

/* Exit status, the same for every program (DESIGN.md). */
#define EXIT_DATA	1	/* bad input data, replay mismatch */
#define EXIT_USAGE	2	/* usage error */
#define EXIT_SYS	3	/* system or network error */

/* addr.c: the one address parser and printer */
#define ADDR_STRLEN	512	/* "[v6]:port", or "unix:" + vis-encoded path */
struct endpoint {
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};
int	 addr_resolve(const char *, int, struct endpoint **, size_t *,
	    char *, size_t);
void	 addr_format(const struct sockaddr *, socklen_t, char *, size_t);
void	 addr_peer(int, char *, size_t);
void	 addr_local(int, char *, size_t);

/* log.c: one line per event, on stderr or syslog */
void	 log_init(int, int);
void	 log_event(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
int	 log_fd2_is_socket0(void);

/* util.c: small things every program needs */
uint64_t now_us(void);
uint64_t mono_us(void);
int	 fd_nonblock(int);
int	 fd_block(int);
int	 write_all(int, const void *, size_t);
void	 child_reset_signals(void);
long long parse_num(const char *, long long, long long, const char *);

/* sid.c: session ids unique on the host */
#define SID_MAX	20
void	 sid_make(char *, size_t);

/* conn.c: the legs of one connection */
int	 conn_to_target(const struct endpoint *, size_t, int, char *, size_t,
	    char *, size_t);
void	 conn_tune(int);
void	 conn_abort(int);

/* session: what one relay knows about its connection */
struct session {
	char		 sid[SID_MAX + 1];
	char		 client[ADDR_STRLEN];
	char		 server[ADDR_STRLEN];
	char		 local[ADDR_STRLEN];
	uint64_t	 open_us;	/* wall clock at open */
	uint64_t	 open_mono;	/* CLOCK_MONOTONIC at open */
};

/* relay.c: move bytes both ways until the connection ends */
struct relay_opts {
	int		 idle_ms;	/* -w, -1 for none */
	int		 no_splice;
	int		 pipe_size;
};
struct relay_ends {
	int		 cin, cout;	/* client side: read, write */
	int		 sin, sout;	/* server side: read, write */
};
int	 relay_run(struct session *, struct relay_ends *,
	    const struct relay_opts *, int);

/* exec.c: UCSPI environment and the per-connection program */
int	 ucspi_setenv(int, const char *);
void	 exec_prog(char **) __attribute__((noreturn));

/* notify.c: tell whoever started us that we are ready */
int	 notify_ready(void);
int	 portfile_write(const char *, int);

/* session.c: one connection's life, whatever started it */
struct serve_ctx {
	const char		*target_spec;
	struct endpoint		*target;
	size_t			 ntarget;
	char			**prog;		/* exec mode, else NULL */
	int			 connect_ms;
	struct relay_opts	 ro;
};
int	 session_relay(const struct serve_ctx *, int, int);
int	 session_exec(const struct serve_ctx *, int);
int	 session_serve(int, void *);

/* listen.c: the listener */
struct listener {
	int		*fds;
	size_t		 nfds;
	int		 max_conns;	/* -c */
	int		 drain_s;	/* -T */
	const char	*unix_path;	/* to unlink at exit */
};
int	 listen_open(const char *, int, struct listener *);
int	 listen_sd(struct listener *);
int	 listen_port(const struct listener *);
int	 listen_serve(struct listener *, int (*)(int, void *), void *);

#endif
