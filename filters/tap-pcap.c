/*
 * tap-pcap: a tap stream as a classic pcap file that tshark and
 * Wireshark dissect as if it had been captured on the wire.
 *
 * The relay sees bytes, not packets, so the packets are made up: per
 * session an Ethernet/IP/TCP conversation between the client and server
 * addresses of its open record, a three-way handshake at the open time,
 * the data cut into MSS-sized segments with per-direction sequence and
 * acknowledgment numbers, an ACK from the receiver after each record
 * (and every ACK_EVERY segments, so no window ever fills), shut as FIN,
 * close as FINs or an RST, and a gap as a jump in the sequence numbers.
 * tshark reassembles such a conversation like a real one, so its
 * dissectors (RESP, HTTP, ...) see the application protocol.
 */

#include <sys/types.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define PCAP_MAGIC	0xa1b2c3d4U	/* microsecond timestamps */
#define PCAP_SNAPLEN	65535
#define LINKTYPE_ETHERNET 1
#define ETH_HDR		14
#define IP4_HDR		20
#define IP6_HDR		40
#define TCP_HDR		20
#define TCP_OPT_MSS	4		/* the MSS option on SYNs */
#define MSS4		1460		/* what Ethernet carries */
#define MSS6		1440
#define PKT_MAX		(ETH_HDR + IP6_HDR + TCP_HDR + TCP_OPT_MSS + MSS4)
#define WINDOW		65535
#define ACK_EVERY	32		/* segments: 32 * 1460 < WINDOW */
#define KV_MAX		4096		/* open, close, gap payloads */

#define TH_FIN		0x01
#define TH_SYN		0x02
#define TH_RST		0x04
#define TH_PSH		0x08
#define TH_ACK		0x10

enum { C2S, S2C };			/* direction, and who sends in it */

/* Stand-ins where an address is no IP address (documented in the page). */
#define STANDIN_CLIENT	0x7f000001U	/* 127.0.0.1 */
#define STANDIN_SERVER	0x7f000002U	/* 127.0.0.2 */
#define STANDIN_PORT0	49152		/* ports from the SID's hash, */
#define STANDIN_PORTS	16384		/* in the dynamic range */

struct end {
	unsigned char	 ip[16];	/* IPv4 in the first 4 bytes */
	uint16_t	 port;
	uint32_t	 nxt;		/* next sequence number it sends */
	int		 fin;		/* it sent its FIN */
	uint16_t	 ipid;
};

struct sess {
	char		 sid[SID_MAX + 1];	/* first: the table's key */
	int		 v6;
	struct end	 e[2];		/* [C2S] the client, [S2C] the server */
};
TAP_SESSIONS_ELEM(struct sess);

struct pcap {
	FILE		*f;
	const char	*name;		/* for messages */
	const char	*only;		/* -s: this session, else all */
	struct tap_sessions sess;	/* of struct sess: those open */
	uint64_t	 recno;		/* the record being converted */
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [-s sid] [-w file]\n", getprogname());
	exit(status);
}

/* Keep what was written readable, then leave. */
static void __attribute__((noreturn, format(printf, 3, 4)))
die(struct pcap *p, int status, const char *fmt, ...)
{
	va_list ap;

	(void)fflush(p->f);
	va_start(ap, fmt);
	verrx(status, fmt, ap);
}

/* Bad input: "record N: what", exit 1. */
static void __attribute__((noreturn, format(printf, 2, 3)))
bad(struct pcap *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	die(p, EXIT_DATA, "record %llu: %s", (unsigned long long)p->recno,
	    msg);
}

static void
out(struct pcap *p, const void *buf, size_t n)
{
	if (fwrite(buf, 1, n, p->f) != n)
		die(p, EXIT_SYS, "%s: %s", p->name, strerror(errno));
}

/*
 * The file header.  pcap fields are in the writer's byte order; the
 * magic tells readers which that is.
 */
static void
pcap_header(struct pcap *p)
{
	unsigned char h[24];
	uint32_t magic = PCAP_MAGIC, snaplen = PCAP_SNAPLEN;
	uint32_t link = LINKTYPE_ETHERNET, zero = 0;
	uint16_t major = 2, minor = 4;

	memcpy(h, &magic, 4);
	memcpy(h + 4, &major, 2);
	memcpy(h + 6, &minor, 2);
	memcpy(h + 8, &zero, 4);	/* thiszone: times are UTC */
	memcpy(h + 12, &zero, 4);	/* sigfigs */
	memcpy(h + 16, &snaplen, 4);
	memcpy(h + 20, &link, 4);
	out(p, h, sizeof(h));
}

/* FNV-1a: ISNs and stand-in ports the same for the same SID, every run. */
static uint64_t
hash(const char *s, const char *salt)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	for (; *salt != '\0'; salt++)
		h = (h ^ (unsigned char)*salt) * 1099511628211ULL;
	return h;
}

static void
put16(unsigned char *b, uint16_t v)
{
	b[0] = (unsigned char)(v >> 8);
	b[1] = (unsigned char)v;
}

static void
put32(unsigned char *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

/* The Internet checksum's running sum (RFC 1071), big-endian words. */
static uint32_t
sum(uint32_t acc, const unsigned char *b, size_t n)
{
	size_t i;

	for (i = 0; i + 1 < n; i += 2)
		acc += (uint32_t)b[i] << 8 | b[i + 1];
	if (n & 1)
		acc += (uint32_t)b[n - 1] << 8;
	return acc;
}

static uint16_t
fold(uint32_t acc)
{
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
	return (uint16_t)~acc;
}

/* IP header at b for a TCP segment of tlen bytes; its length. */
static size_t
ip_header(unsigned char *b, struct sess *s, int from, size_t tlen,
    uint32_t *pseudo)
{
	struct end *src = &s->e[from], *dst = &s->e[!from];
	size_t alen = s->v6 ? 16 : 4;
	unsigned char ph[4];

	if (s->v6) {
		memset(b, 0, IP6_HDR);
		b[0] = 0x60;
		put16(b + 4, (uint16_t)tlen);
		b[6] = IPPROTO_TCP;
		b[7] = 64;
		memcpy(b + 8, src->ip, 16);
		memcpy(b + 24, dst->ip, 16);
	} else {
		memset(b, 0, IP4_HDR);
		b[0] = 0x45;
		put16(b + 2, (uint16_t)(IP4_HDR + tlen));
		put16(b + 4, src->ipid++);
		b[6] = 0x40;	/* don't fragment, as stacks send TCP */
		b[8] = 64;
		b[9] = IPPROTO_TCP;
		memcpy(b + 12, src->ip, 4);
		memcpy(b + 16, dst->ip, 4);
		put16(b + 10, fold(sum(0, b, IP4_HDR)));
	}
	/* The TCP pseudo-header: addresses, protocol, TCP length. */
	put16(ph, 0);
	ph[1] = IPPROTO_TCP;
	put16(ph + 2, (uint16_t)tlen);
	*pseudo = sum(sum(sum(0, b + (s->v6 ? 8 : 12), alen),
	    b + (s->v6 ? 24 : 16), alen), ph, 4);
	return s->v6 ? IP6_HDR : IP4_HDR;
}

/*
 * One packet from side `from` at time us: flags, payload, and the MSS
 * option on SYNs.  Sequence numbers advance by what the packet takes.
 */
static void
packet(struct pcap *p, struct sess *s, int from, uint64_t us, int flags,
    const unsigned char *data, size_t n)
{
	static const unsigned char mac[2][6] = {
		{ 0x02, 0, 0, 0, 0, 0x01 },	/* client: locally administered */
		{ 0x02, 0, 0, 0, 0, 0x02 },	/* server */
	};
	struct end *src = &s->e[from], *dst = &s->e[!from];
	unsigned char b[PKT_MAX], *tcp;
	size_t thl = TCP_HDR + ((flags & TH_SYN) ? TCP_OPT_MSS : 0), len;
	uint32_t rec[4], pseudo;

	memcpy(b, mac[!from], 6);
	memcpy(b + 6, mac[from], 6);
	put16(b + 12, s->v6 ? 0x86dd : 0x0800);
	len = ETH_HDR + ip_header(b + ETH_HDR, s, from, thl + n, &pseudo);
	tcp = b + len;
	memset(tcp, 0, thl);
	put16(tcp, src->port);
	put16(tcp + 2, dst->port);
	put32(tcp + 4, src->nxt);
	put32(tcp + 8, (flags & TH_ACK) ? dst->nxt : 0);
	tcp[12] = (unsigned char)(thl / 4 << 4);
	tcp[13] = (unsigned char)flags;
	put16(tcp + 14, WINDOW);
	if (flags & TH_SYN) {
		tcp[20] = 2;	/* MSS, so the segment sizes look chosen */
		tcp[21] = 4;
		put16(tcp + 22, s->v6 ? MSS6 : MSS4);
	}
	if (n > 0)
		memcpy(tcp + thl, data, n);
	put16(tcp + 16, fold(sum(pseudo, tcp, thl + n)));
	len += thl + n;
	src->nxt += (uint32_t)n + ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
	rec[0] = (uint32_t)(us / 1000000);
	rec[1] = (uint32_t)(us % 1000000);
	rec[2] = rec[3] = (uint32_t)len;
	out(p, rec, sizeof(rec));
	out(p, b, len);
}

/* Parse "IP:PORT" or "[V6]:PORT" into e; -1 if it is neither. */
static int
parse_addr(const char *a, struct end *e, int *v6)
{
	char host[INET6_ADDRSTRLEN];
	const char *colon, *h = a, *errstr;
	size_t len;

	if (*a == '[') {
		if ((colon = strchr(a, ']')) == NULL || colon[1] != ':')
			return -1;
		h = a + 1;
		len = (size_t)(colon - h);
		colon++;
		*v6 = 1;
	} else {
		if ((colon = strchr(a, ':')) == NULL)
			return -1;
		len = (size_t)(colon - a);
		*v6 = 0;
	}
	if (len >= sizeof(host))
		return -1;
	memcpy(host, h, len);
	host[len] = '\0';
	memset(e->ip, 0, sizeof(e->ip));
	if (inet_pton(*v6 ? AF_INET6 : AF_INET, host, e->ip) != 1)
		return -1;
	/* strtonum takes "+1" and " 1": the printer never writes those. */
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	e->port = (uint16_t)strtonum(colon + 1, 0, 65535, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* An IPv4 address as IPv4-mapped IPv6 (::ffff:a.b.c.d), in place. */
static void
map6(struct end *e)
{
	memmove(e->ip + 12, e->ip, 4);
	memset(e->ip, 0, 10);
	e->ip[10] = e->ip[11] = 0xff;
}

/*
 * The address of one side from the open record's key: 1 a real one,
 * 0 a stand-in is needed, bad input otherwise.  Stand-ins are for
 * unix:PATH, no key, and "unknown": the relay's word for an address
 * getpeername(2) could not tell (a client that reset at once).
 */
static int
side_addr(struct pcap *p, const char *kv, size_t n, const char *key,
    struct end *e, int *v6)
{
	char a[ADDR_STRLEN];

	if (!tap_kv(kv, n, key, a, sizeof(a)) ||
	    strncmp(a, "unix:", 5) == 0 || strcmp(a, "unknown") == 0)
		return 0;
	if (parse_addr(a, e, v6) == -1)
		bad(p, "%s=%s: not IP:PORT, [V6]:PORT or unix:PATH", key, a);
	return 1;
}

/*
 * Addresses from an open payload (NULL: the stream lacks the open).
 * Stand-ins: 127.0.0.1 for the client and 127.0.0.2 for the server,
 * the client's port and a missing listen port from the SID's hash; one
 * IPv6 side makes the other IPv4-mapped IPv6.
 */
static void
sess_addrs(struct pcap *p, struct sess *s, const char *kv, size_t n)
{
	struct end *c = &s->e[C2S], *sv = &s->e[S2C], l;
	uint64_t h = hash(s->sid, "port");
	int real[2], v6[2] = { 0, 0 }, lv6;

	real[C2S] = kv != NULL && side_addr(p, kv, n, "client", c, &v6[C2S]);
	real[S2C] = kv != NULL && side_addr(p, kv, n, "server", sv, &v6[S2C]);
	if (!real[C2S]) {
		put32(c->ip, STANDIN_CLIENT);
		c->port = (uint16_t)(STANDIN_PORT0 + h % STANDIN_PORTS);
	}
	if (!real[S2C]) {
		/* The port the client connected to names the service. */
		put32(sv->ip, STANDIN_SERVER);
		sv->port = (uint16_t)(STANDIN_PORT0 +
		    (h >> 32) % STANDIN_PORTS);
		if (kv != NULL && side_addr(p, kv, n, "listen", &l, &lv6))
			sv->port = l.port;
	}
	s->v6 = v6[C2S] || v6[S2C];
	if (s->v6 && !v6[C2S])
		map6(c);
	if (s->v6 && !v6[S2C])
		map6(sv);
	/* Two stand-ins on one address and port would be one socket. */
	if (memcmp(c->ip, sv->ip, 16) == 0 && c->port == sv->port)
		c->port ^= 1;
}

/* A new conversation: SYN, SYN-ACK, ACK at its first record's time. */
static struct sess *
sess_open(struct pcap *p, const struct tap_rec *rec, const char *kv,
    size_t n)
{
	struct sess *s = tap_sessions_add(&p->sess, rec->sid);
	uint64_t h = hash(rec->sid, "isn");

	sess_addrs(p, s, kv, n);
	s->e[C2S].nxt = (uint32_t)h;
	s->e[S2C].nxt = (uint32_t)(h >> 32);
	s->e[C2S].ipid = (uint16_t)(h >> 16);
	s->e[S2C].ipid = (uint16_t)(h >> 48);
	packet(p, s, C2S, rec->us, TH_SYN, NULL, 0);
	packet(p, s, S2C, rec->us, TH_SYN | TH_ACK, NULL, 0);
	packet(p, s, C2S, rec->us, TH_ACK, NULL, 0);
	return s;
}

/* The whole payload of a small (key=value) record into buf. */
static size_t
read_kv(struct pcap *p, struct tap_reader *r, const struct tap_rec *rec,
    char *buf, size_t cap)
{
	size_t have = 0;
	ssize_t got;

	if (rec->len >= cap)
		bad(p, "%s record of %llu bytes, more than %zu", rec->kind,
		    (unsigned long long)rec->len, cap - 1);
	while (have < rec->len) {
		if ((got = tap_payload(r, buf + have, cap - 1 - have)) == -1)
			die(p, errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s",
			    r->err);
		have += (size_t)got;
	}
	buf[have] = '\0';
	return have;
}

/* Fill buf with up to n payload bytes: whole segments, not read sizes. */
static size_t
read_seg(struct pcap *p, struct tap_reader *r, unsigned char *buf,
    size_t n)
{
	size_t have = 0;
	ssize_t got;

	while (have < n && r->left > 0) {
		if ((got = tap_payload(r, buf + have, n - have)) == -1)
			die(p, errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s",
			    r->err);
		have += (size_t)got;
	}
	return have;
}

/* The receiver acknowledges everything so far: no window ever fills. */
static void
ack(struct pcap *p, struct sess *s, int from, uint64_t us)
{
	packet(p, s, from, us, TH_ACK, NULL, 0);
}

static void
do_data(struct pcap *p, struct tap_reader *r, struct sess *s, int d,
    uint64_t us)
{
	unsigned char seg[MSS4];
	size_t mss = s->v6 ? MSS6 : MSS4, n;
	int segs = 0;

	if (s->e[d].fin)
		bad(p, "data in %s after its shut", d == C2S ? "c2s" : "s2c");
	while (r->left > 0) {
		n = read_seg(p, r, seg, mss);
		packet(p, s, d, us, TH_ACK | (r->left == 0 ? TH_PSH : 0),
		    seg, n);
		if (++segs % ACK_EVERY == 0 && r->left > 0)
			ack(p, s, !d, us);
	}
	if (segs > 0)
		ack(p, s, !d, us);
}

static void
fin(struct pcap *p, struct sess *s, int d, uint64_t us)
{
	packet(p, s, d, us, TH_FIN | TH_ACK, NULL, 0);
	s->e[d].fin = 1;
	ack(p, s, !d, us);
}

/* gap: the sender's sequence numbers jump over the bytes not seen. */
static void
do_gap(struct pcap *p, struct tap_reader *r, const struct tap_rec *rec,
    struct sess *s, int d)
{
	char kv[KV_MAX], v[32];
	const char *errstr;
	size_t n = read_kv(p, r, rec, kv, sizeof(kv));
	long long bytes;

	if (s->e[d].fin)
		bad(p, "gap in %s after its shut", rec->dir);
	if (!tap_kv(kv, n, "bytes", v, sizeof(v)))
		bad(p, "gap record without bytes=");
	bytes = strtonum(v, 0, LLONG_MAX, &errstr);
	if (errstr != NULL || v[0] < '0' || v[0] > '9')
		bad(p, "gap bytes=%s: not a number of bytes", v);
	/* Sequence numbers count modulo 2^32, as TCP's do. */
	s->e[d].nxt += (uint32_t)bytes;
}

/*
 * close: eof ends the directions not yet shut with FINs, the closing
 * side (by=) first; any other reason is an RST from the side in by=,
 * or from the server when the relay ended it (timeout, shutdown,
 * error): the relay stood in for the server, so the client saw that.
 */
static void
do_close(struct pcap *p, struct tap_reader *r, const struct tap_rec *rec,
    struct sess *s)
{
	char kv[KV_MAX], reason[32], by[32];
	size_t n = read_kv(p, r, rec, kv, sizeof(kv));
	int first;

	if (!tap_kv(kv, n, "reason", reason, sizeof(reason)))
		bad(p, "close record without reason=");
	if (!tap_kv(kv, n, "by", by, sizeof(by)))
		by[0] = '\0';
	first = strcmp(by, "client") == 0 ? C2S : S2C;
	if (strcmp(reason, "eof") == 0) {
		if (!s->e[first].fin)
			fin(p, s, first, rec->us);
		if (!s->e[!first].fin)
			fin(p, s, !first, rec->us);
	} else
		packet(p, s, first, rec->us, TH_RST | TH_ACK, NULL, 0);
	tap_sessions_forget(&p->sess, s);
}

static int
dir_of(struct pcap *p, const struct tap_rec *rec)
{
	if (strcmp(rec->dir, "c2s") == 0)
		return C2S;
	if (strcmp(rec->dir, "s2c") == 0)
		return S2C;
	bad(p, "%s record with DIR -", rec->kind);
}

/* One record: open, data, shut, gap, close; other kinds carry nothing. */
static void
convert(struct pcap *p, struct tap_reader *r, const struct tap_rec *rec)
{
	struct sess *s = tap_sessions_find(&p->sess, rec->sid);
	char kv[KV_MAX];
	size_t n;

	if (strcmp(rec->kind, "open") == 0) {
		if (s != NULL)
			bad(p, "second open of session %s", rec->sid);
		n = read_kv(p, r, rec, kv, sizeof(kv));
		(void)sess_open(p, rec, kv, n);
		return;
	}
	if (strcmp(rec->kind, "data") != 0 && strcmp(rec->kind, "shut") != 0 &&
	    strcmp(rec->kind, "gap") != 0 && strcmp(rec->kind, "close") != 0)
		return;
	if (strcmp(rec->kind, "close") != 0)
		(void)dir_of(p, rec);
	/* A tap started late: stand-in addresses, handshake now. */
	if (s == NULL)
		s = sess_open(p, rec, NULL, 0);
	if (strcmp(rec->kind, "data") == 0)
		do_data(p, r, s, dir_of(p, rec), rec->us);
	else if (strcmp(rec->kind, "shut") == 0) {
		if (s->e[dir_of(p, rec)].fin)
			bad(p, "second shut of %s", rec->dir);
		fin(p, s, dir_of(p, rec), rec->us);
	} else if (strcmp(rec->kind, "gap") == 0)
		do_gap(p, r, rec, s, dir_of(p, rec));
	else
		do_close(p, r, rec, s);
}

static void
run(struct pcap *p)
{
	struct tap_reader r;
	struct tap_rec rec;
	int rv;

	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		die(p, EXIT_SYS, "%s", r.err);
	pcap_header(p);
	while ((rv = tap_next(&r, &rec)) == 1) {
		p->recno = r.recno;
		if (rec.us / 1000000 > UINT32_MAX)
			bad(p, "time %llu past what pcap holds (2106)",
			    (unsigned long long)rec.us);
		if (p->only == NULL || strcmp(rec.sid, p->only) == 0)
			convert(p, &r, &rec);
	}
	if (rv == -1)
		die(p, errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s", r.err);
	tap_reader_free(&r);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ NULL,		0,			NULL,	0 }
	};
	struct pcap p = { .f = stdout, .name = "stdout" };
	const char *file = NULL;
	int ch;

	tap_sessions_init(&p.sess, sizeof(struct sess), 0, NULL);
	while ((ch = getopt_long(argc, argv, "hs:w:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 's':
			if (!tap_sid_valid(optarg)) {
				warnx("-s %s: not a session id", optarg);
				usage(EXIT_USAGE);
			}
			p.only = optarg;
			break;
		case 'w':
			if (*optarg == '\0') {
				warnx("-w: empty file name");
				usage(EXIT_USAGE);
			}
			file = optarg;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (file != NULL && strcmp(file, "-") != 0) {
		if ((p.f = fopen(file, "wb")) == NULL)
			err(EXIT_SYS, "%s", file);
		p.name = file;
	}
	run(&p);
	/* fclose reports what buffered writes could not. */
	if (fflush(p.f) == EOF || ferror(p.f) ||
	    (p.f != stdout && fclose(p.f) == EOF))
		err(EXIT_SYS, "%s", p.name);
	tap_sessions_free(&p.sess);
	return 0;
}
