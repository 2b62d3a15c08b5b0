/*
 * tcptap internal interfaces, grouped by the file that defines them.
 * One header on purpose: the programs are small and share one library.
 */
#ifndef TCPTAP_H
#define TCPTAP_H

#include <sys/types.h>
#include <sys/socket.h>

#include <getopt.h>
#include <poll.h>
#include <stdio.h>
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
#define ADDR_STRLEN	512
#define ADDR_BADSPEC	(-2)	/* addr_resolve: not an address at all */	/* "[v6]:port", or "unix:" + vis-encoded path */
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

/* sid.c: session ids unique on the host */
#define SID_MAX	20
void	 sid_make(char *, size_t);

/* tapstream.c: the tap stream, written by tcptap, read by every filter */
#define TAP_HDR		64	/* header line, '\n' included */
#define TAP_KIND_MAX	8
#define TAP_LEN_MAX	99999999999ULL	/* 11 digits */
struct tap_rec {
	char		 kind[TAP_KIND_MAX + 1];
	char		 sid[SID_MAX + 1];
	uint64_t	 us;		/* UNIX_US */
	char		 dir[4];	/* "c2s", "s2c" or "-" */
	uint64_t	 len;		/* payload bytes */
};
struct tap_reader {
	int		 fd;
	const char	*name;		/* for messages: file name or "stdin" */
	uint64_t	 recno;		/* records read, from 1 */
	uint64_t	 left;		/* payload bytes of this record unread */
	char		*buf;		/* read-ahead */
	size_t		 bufsz, off, end;
	int		 unbuffered;	/* read no byte past a header */
	char		 err[128];	/* why the last call failed */
};
int	 tap_header(char *, const char *, const char *, uint64_t,
	    const char *, uint64_t);
int	 tap_write(int, const char *, const char *, uint64_t, const char *,
	    const void *, size_t);
const char *tap_parse(const char *, struct tap_rec *);
int	 tap_reader_init(struct tap_reader *, int, const char *, int);
void	 tap_reader_free(struct tap_reader *);
int	 tap_next(struct tap_reader *, struct tap_rec *);
ssize_t	 tap_payload(struct tap_reader *, void *, size_t);
int	 tap_skip(struct tap_reader *);
ssize_t	 tap_splice(struct tap_reader *, int, size_t);
int	 tap_sid_valid(const char *);
int	 tap_kv(const char *, size_t, const char *, char *, size_t);
/*
 * A filter's open sessions, keyed by SID.  Elements are size bytes and
 * begin with their char sid[SID_MAX + 1] (TAP_SESSIONS_ELEM checks the
 * struct).  With max > 0 the table keeps the order of adding and, when
 * full, forgets the oldest to add one, telling evict (if not NULL)
 * first; with max 0 it grows without bound and forget fills the hole
 * with the last element.  add zeroes the element and copies the SID.
 * add and forget move elements: a pointer into the table is good only
 * until the next of either.  Out of memory ends the program (err(3)).
 */
struct tap_sessions {
	char		*v;
	size_t		 n, cap;
	size_t		 size;		/* of one element */
	size_t		 max;		/* 0: no bound */
	void		(*evict)(void *);
};
#define TAP_SESSIONS_ELEM(type) \
	_Static_assert(offsetof(type, sid) == 0 && \
	    sizeof(((type *)NULL)->sid) == SID_MAX + 1, \
	    #type " must begin with char sid[SID_MAX + 1]")
void	 tap_sessions_init(struct tap_sessions *, size_t, size_t,
	    void (*)(void *));
void	*tap_sessions_find(const struct tap_sessions *, const char *);
void	*tap_sessions_add(struct tap_sessions *, const char *);
void	 tap_sessions_forget(struct tap_sessions *, void *);
void	*tap_sessions_last(const struct tap_sessions *);
void	 tap_sessions_free(struct tap_sessions *);

/* hex.c: the one hex formatter */
size_t	 hex_line(char *, uint64_t, const unsigned char *, size_t);
size_t	 hex_encode(char *, const unsigned char *, size_t);

/* cidr.c: address ranges for -A and -D */
struct cidr {
	int		 family;	/* AF_INET or AF_INET6 */
	int		 prefix;	/* bits that count */
	unsigned char	 addr[16];
};
int	 cidr_parse(const char *, struct cidr *);
int	 cidr_match(const struct cidr *, const struct sockaddr *);
int	 cidr_same_client(const struct sockaddr *, const struct sockaddr *,
	    int);

/* access.c: -A/-D rules */
struct rule {
	int		 allow;
	struct cidr	 net;
	char		 text[64];	/* "allow:CIDR", for log and env */
};
struct access {
	struct rule	*rules;
	int		 n;
	int		 any_allow;	/* then the default is deny */
};
int	 access_add(struct access *, int, const char *);
const char *access_check(const struct access *, const struct sockaddr *,
	    int *);

/* priv.c: -u USER[:GROUP] */
int	 priv_lookup(const char *, uid_t *, gid_t *, char *, size_t);
void	 priv_drop(uid_t, gid_t);

/* frame.c: length-prefixed framing, shared by tap-frame and tap-replay */
#define FRAME_MAX_DEFAULT	16777216ULL
#define FRAME_MAX_LIMIT		4294967296ULL	/* -m at most 2^32 */
#define FRAME_HDR_MAX		64	/* --length-offset + -H, at most */
#define FRAME_LEN_MAX		16	/* -H at most */
/*
 * A frame is len_offset bytes (a type byte...), a hdr_len-byte length
 * field F, then F + adjust payload bytes.  With includes_header
 * (--length-includes-header) the adjust is -(len_offset + hdr_len)
 * whatever adjust says: use frame_decode and frame_encode, never the
 * field itself.
 */
struct frame_spec {
	int		 hdr_len;	/* -H: length field bytes, 1..16 (0: unframed) */
	int		 len_offset;	/* --length-offset: bytes before it */
	int		 little;	/* --little-endian */
	long long	 adjust;	/* --adjust: payload = field + adjust */
	int		 keep_header;	/* --keep-header: emit header + payload */
	uint64_t	 max;		/* -m: largest payload accepted */
	uint64_t	 skip;		/* --skip: first bytes per direction, unframed */
	int		 includes_header; /* --length-includes-header */
	int		 adjust_set;	/* --adjust given (excludes the above) */
};
struct framer {				/* one direction's reassembly */
	const struct frame_spec	*spec;
	uint64_t	 skip_left;	/* unframed bytes still to pass */
	unsigned char	 hdr[FRAME_HDR_MAX]; /* len_offset + hdr_len bytes so far */
	size_t		 hdr_have;
	uint64_t	 need;		/* payload bytes of the current frame */
	unsigned char	*buf;		/* header (if kept) and payload so far */
	size_t		 have, cap;
	int		 off;		/* an over-long frame: no longer framed */
	uint64_t	 bad_len;	/* ... the length it announced (payload,
					   UINT64_MAX beyond 64 bits) */
};
/*
 * emit(arg, bytes, len, unframed): one whole frame (unframed 0), or bytes
 * of the --skip prefix as they arrive (unframed 1).  Return 0, or -1 to
 * stop framer_feed, which then returns -2.
 */
typedef int (*frame_emit)(void *, const unsigned char *, size_t, int);
/*
 * The framing options: -H N and -m N (FRAME_SHORTOPTS) and the long ones
 * (vals FRAME_OPT_*, >= 1000).  frame_longopts is a whole getopt_long
 * table ending in {0}; a program with long options of its own builds
 *	static const struct option longopts[] = {
 *		FRAME_LONGOPTS,
 *		{ "timing", required_argument, NULL, 'T' },
 *		{ NULL, 0, NULL, 0 }
 *	};
 * and passes each option to frame_option first.
 */
#define FRAME_SHORTOPTS		"H:m:"
#define FRAME_OPT_OFFSET	1000
#define FRAME_OPT_LITTLE	1001
#define FRAME_OPT_INCLUDES	1002
#define FRAME_OPT_ADJUST	1003
#define FRAME_OPT_KEEP		1004
#define FRAME_OPT_SKIP		1005
#define FRAME_LONGOPTS \
	{ "length-offset", required_argument, NULL, FRAME_OPT_OFFSET }, \
	{ "little-endian", no_argument, NULL, FRAME_OPT_LITTLE }, \
	{ "length-includes-header", no_argument, NULL, FRAME_OPT_INCLUDES }, \
	{ "adjust", required_argument, NULL, FRAME_OPT_ADJUST }, \
	{ "keep-header", no_argument, NULL, FRAME_OPT_KEEP }, \
	{ "skip", required_argument, NULL, FRAME_OPT_SKIP }
extern const struct option frame_longopts[];
void	 frame_spec_init(struct frame_spec *);
int	 frame_option(struct frame_spec *, int, const char *, char *, size_t);
int	 frame_spec_check(const struct frame_spec *, char *, size_t);
size_t	 frame_hdr_size(const struct frame_spec *);
long long frame_adjust(const struct frame_spec *);
int	 frame_decode(const struct frame_spec *, const unsigned char *,
	    uint64_t *);
void	 frame_explain(const struct frame_spec *, const unsigned char *,
	    char *, size_t);
int	 frame_encode(const struct frame_spec *, uint64_t, unsigned char *);
void	 framer_init(struct framer *, const struct frame_spec *);
int	 framer_feed(struct framer *, const unsigned char *, size_t,
	    frame_emit, void *);
size_t	 framer_pending(const struct framer *);
void	 framer_reset(struct framer *);
void	 framer_free(struct framer *);

/* tsv.c: the "ts_proxy recording v1" TSV format */
#define TSV_MAGIC	"# ts_proxy recording v1"
struct tsv_reader {
	FILE		*f;
	const char	*name;		/* for "FILE:LINE: what" */
	uint64_t	 line;		/* of the last line read, from 1 */
	uint64_t	 max_payload;	/* larger payloads are errors (0 at
					   init: FRAME_MAX_DEFAULT) */
	uint64_t	 line_max;	/* 2 * max_payload + 64: longer lines
					   are errors, never read whole */
	uint64_t	 last_us;	/* times never go back */
	char		*buf;		/* the line */
	size_t		 bufcap;
	unsigned char	*payload;	/* the decoded hex */
	size_t		 paycap;
	char		 err[256];	/* "FILE:LINE: what" on -1 */
};
struct tsv_line {
	uint64_t		 us;	/* elapsed since open */
	char			 dir[4];	/* "c2s" or "s2c" */
	const unsigned char	*p;	/* payload, valid until the next call */
	size_t			 len;
};
/*
 * tsv_next: 1 a line, 0 at EOF, -1 with r->err set and errno EBADMSG for
 * bad data ("FILE:LINE: what"), another errno for a failed read.  Blank
 * and '#' lines are skipped; hex of either case is accepted.  The
 * writers return 0, or -1 with errno from stdio; tsv_write is
 * tsv_write_begin, tsv_write_hex (any number of pieces), tsv_write_end.
 */
int	 tsv_reader_init(struct tsv_reader *, FILE *, const char *,
	    uint64_t);
int	 tsv_next(struct tsv_reader *, struct tsv_line *);
void	 tsv_reader_free(struct tsv_reader *);
int	 tsv_write_magic(FILE *);
int	 tsv_write(FILE *, uint64_t, const char *, const unsigned char *,
	    size_t);
int	 tsv_write_begin(FILE *, uint64_t, const char *);
int	 tsv_write_hex(FILE *, const unsigned char *, size_t);
int	 tsv_write_end(FILE *);

/* proxy.c: the PROXY protocol header, v1 and v2 */
#define PROXY_HDR_MAX	232	/* v2 with unix addresses; v1 is at most 107 */
ssize_t	 proxy_header(int, const struct sockaddr *, const struct sockaddr *,
	    unsigned char *, size_t);

/* b64.c: the one base64 encoder */
#define B64_LEN(n)	(((n) + 2) / 3 * 4)	/* no NUL */
size_t	 b64_encode(char *, const unsigned char *, size_t);

/* out.c: a growing output buffer, one write(2) per record */
struct out {
	char		*buf;
	size_t		 len, cap;
};
void	 out_need(struct out *, size_t);
void	 out_add(struct out *, const char *, size_t);
void	 out_str(struct out *, const char *);

/* util.c: small things every program needs */
uint64_t now_us(void);
uint64_t mono_us(void);
int	 fd_nonblock(int);
int	 fd_block(int);
int	 write_all(int, const void *, size_t);
void	 child_reset_signals(void);
void	 child_wait(pid_t, int);

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

/* tap.c: the programs that watch one connection */
struct tap {
	char		*cmd;
	pid_t		 pid;
	int		 fd;		/* T: the tap's stdin, our end */
	int		 s[2];		/* S: staging pipe for tee(2) */
	char		*out;		/* queued headers and small payloads */
	size_t		 outcap, outlen, outoff;
	size_t		 staged;	/* payload in S after out */
	char		*after;		/* records queued behind staged */
	size_t		 aftercap, afterlen;
	uint64_t	 since;		/* last progress while it had work */
	int		 dead;
	int		 quiet;		/* the listener logs its end */
	uint64_t	 gap[2];	/* c2s, s2c bytes dropped, not yet said */
};
struct taps {
	const struct session	*s;
	struct tap		*t;
	int			 n;
	int			 timeout_ms;	/* --tap-timeout, 0 for none */
	int			 drop;		/* --tap-policy drop */
	int			 off;		/* capture off: all data is gap */
	int			 pipe_size;
	size_t			 cap;		/* smallest S: P's limit */
};
int	 taps_start(struct taps *, const struct session *, char **, int,
	    int);
int	 taps_add_fd(struct taps *, int, const char *);
void	 taps_record(struct taps *, const char *, const char *,
	    const void *, size_t);
void	 taps_tee(struct taps *, int, size_t, const char *);
int	 taps_idle(const struct taps *);
void	 taps_capture(struct taps *, int);
void	 taps_pump(struct taps *);
nfds_t	 taps_want(const struct taps *, struct pollfd *, int *, int);
int	 taps_poll_ms(const struct taps *);
void	 taps_finish(struct taps *);

/* inline.c: -x filters in the data path */
#define INLINE_RESET	99	/* a filter's exit status: reset, not FIN */
struct inline_chain {
	int		 in, out;	/* first filter's stdin, last's stdout */
	pid_t		*pids;
	int		 n;
	int		 reset;		/* one exited INLINE_RESET */
};
int	 inline_start(struct inline_chain *, char **, int);
int	 inline_wants_reset(struct inline_chain *);
void	 inline_finish(struct inline_chain *);

/* relay.c: move bytes both ways until the connection ends */
struct relay_opts {
	int		 idle_ms;	/* -w, -1 for none */
	int		 no_splice;
	int		 pipe_size;
	int		 tap_delivered;	/* --tap-point delivered */
	/* The listener's capture switch, read when it signals; or NULL. */
	const volatile int *capture_off;
};
struct relay_ends {
	int		 cin, cout;	/* client side: read, write */
	int		 sin, sout;	/* server side: read, write */
	struct inline_chain *x[2];	/* c2s, s2c filters, or NULL */
};
int	 relay_run(struct session *, struct relay_ends *,
	    const struct relay_opts *, struct taps *, int);

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
	char			**taps;		/* -t commands */
	char			**inl[2];	/* -x c2s:, s2c: commands */
	int			 ninl[2];
	int			 ntaps;
	int			 tap_timeout_ms;
	int			 tap_drop;	/* --tap-policy drop */
	int			 inetd;		/* stdout is the client */
	int			 proxy;		/* --proxy-protocol: 1, 2, or 0 */
	int			 shared_fd;	/* this relay's pipe to --shared-tap */
	int			 capture_off;	/* start with taps switched off */
	int			 connect_ms;
	struct relay_opts	 ro;
};
int	 session_relay(const struct serve_ctx *, int, int);
int	 session_exec(const struct serve_ctx *, int);
int	 session_serve(int, int, const volatile int *, void *);

/* collect.c: --shared-tap, one tap fed whole records by every relay */
struct feeder {				/* one relay's pipe into the collector */
	int		 fd;		/* read end, -1 when the slot is free */
	char		 hdr[TAP_HDR];
	size_t		 have;		/* header bytes read */
	size_t		 sent;		/* header bytes written to the tap */
	uint64_t	 left;		/* payload bytes still to move */
};
struct collector {
	const char	*cmd;
	pid_t		 pid;
	int		 fd;		/* the shared tap's stdin, -1 when gone */
	int		 pipe_size;
	struct feeder	*f;
	int		 nf;
	int		 cur;		/* feeder whose record is moving, or -1 */
	int		 next;		/* where the round-robin goes on */
};
int	 collector_start(struct collector *, const char *, int, int);
int	 collector_attach(struct collector *);
void	 collector_child(struct collector *, int);
nfds_t	 collector_want(const struct collector *, struct pollfd *);
void	 collector_pump(struct collector *);
int	 collector_busy(const struct collector *);
void	 collector_finish(struct collector *);

/* listen.c and bind.c: the listener */
struct listener {
	int		*fds;
	size_t		 nfds;
	int		 max_conns;	/* -c */
	int		 drain_s;	/* -T */
	char		*unix_path;	/* to unlink at exit */
	int		 starved;	/* backing off: out of fds or procs */
	struct collector *shared;	/* --shared-tap, or NULL */
	struct access	 access;	/* -A, -D */
	int		 per_client;	/* -C, 0 for no limit */
	int		 v6_bits;	/* --ipv6-prefix: one client */
	volatile int	*capture_off;	/* shared with relays: SIGUSR1 sets */
	int		 kids_relay;	/* children are relays, not PROG */
	int		 spare;		/* --spare: idle relays kept */
};
/* bind.c: the listening sockets */
int	 listen_open(const char *, int, struct listener *);
int	 listen_sd(struct listener *);
int	 listen_port(const struct listener *);
void	 listen_close(struct listener *);
/* listen.c */
int	 listen_serve(struct listener *,
	    int (*)(int, int, const volatile int *, void *), void *);

/* spare.c: handing the next connection to a relay that has finished */
#define SPARE_RULE_MAX	256	/* TCPTAP_RULE text in a job */
int	 spare_pair(int [2]);
int	 spare_send(int, int, const char *);
int	 spare_done(int);
int	 spare_wait(int, char *, size_t);

/* fault.c: what the fault-* filters (raw bytes, stdin to stdout) share */
#define FAULT_RESET	99	/* exit status: an inline filter asks for a reset */
#define FAULT_TIME_MAX	86400000000ULL	/* a day, in microseconds */
struct fault_rng {
	uint64_t	 s;
};
void	 fault_rng_seed(struct fault_rng *, uint64_t);
uint64_t fault_rng_next(struct fault_rng *);
uint64_t fault_rng_below(struct fault_rng *, uint64_t);
uint64_t fault_seed_default(void);
const char *fault_parse_seed(const char *, uint64_t *);
const char *fault_parse_time(const char *, uint64_t *);
const char *fault_parse_size(const char *, uint64_t *);
void	 fault_fmt_time(char *, size_t, uint64_t);
/*
 * fault_run moves stdin to stdout on a schedule: each chunk read is
 * queued with the time due() gives it (now if NULL) and written, in
 * order, once due and as allow() permits (all if NULL; 0 means not
 * before *wake, which it must lower); wrote() hears what went out.
 * Reading goes on while at most max_queued bytes wait.  At EOF of stdin
 * (due at due(now, 0)) it returns once everything is written.
 */
struct fault_policy {
	void		*arg;
	uint64_t	(*due)(void *, uint64_t, size_t);
	size_t		(*allow)(void *, uint64_t, size_t, uint64_t *);
	void		(*wrote)(void *, uint64_t, size_t);
	size_t		 max_queued;
};
void	 fault_run(const struct fault_policy *);

#endif
