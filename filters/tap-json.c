/*
 * tap-json: a tap stream as JSON Lines, for jq and log shippers.  One
 * object per record, and after each close one more: the connection's
 * summary in Zeek conn.log's field names.  Each line goes out in one
 * write(2), so taps appending to one file never interleave inside a
 * line.  It never guesses: a stream it cannot parse ends it with exit
 * 1, after every line before the bad record.
 */

#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define SESS_MAX	65536	/* open sessions remembered; then the
				   oldest is forgotten (a relay that died
				   leaves no close) */
#define HIST_MAX	16	/* Zeek history letters, each once */
#define NUM_DIGITS	15	/* longer numbers stay strings: jq reads
				   numbers as doubles, exact to 2^53 */

struct sess {
	char		 sid[SID_MAX + 1];	/* first: the table's key */
	uint64_t	 open_us;
	int		 opened;	/* its open record was seen */
	char		*client;	/* client=, NULL if absent */
	char		*server;	/* server=, NULL if absent */
	char		 hist[HIST_MAX + 1];
	uint64_t	 bytes[2];	/* data seen c2s, s2c */
};
TAP_SESSIONS_ELEM(struct sess);

struct ctx {
	int		 text;		/* --text */
	int		 nodata;	/* --no-data */
	const char	*sid;		/* -s */
	struct tap_sessions sess;	/* of struct sess, SESS_MAX */
	struct out	 out;
	unsigned char	*pay;		/* the record's payload */
	size_t		 paylen, paycap;
};

static void __attribute__((noreturn))
usage(int status)
{
	fprintf(status == 0 ? stdout : stderr,
	    "usage: %s [--no-data | --text] [-s sid]\n", getprogname());
	exit(status);
}

static void
out_u64(struct out *o, uint64_t v)
{
	char b[24];

	(void)snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	out_str(o, b);
}

/* Microseconds as seconds with six decimals: a JSON number, exact. */
static void
out_secs(struct out *o, uint64_t us)
{
	char b[32];

	(void)snprintf(b, sizeof(b), "%llu.%06llu",
	    (unsigned long long)(us / 1000000),
	    (unsigned long long)(us % 1000000));
	out_str(o, b);
}

/*
 * Bytes as a JSON string, each byte one code point (ISO 8859-1): the
 * mapping is one to one, so a reader gets the exact bytes back
 * (Python: s.encode("latin-1")), whatever the payload is.  Valid UTF-8
 * is not passed through, as that would make some strings ambiguous.
 */
static void
out_text(struct out *o, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *w;
	size_t i;

	/* Worst case six characters a byte (\u00XX), plus the quotes. */
	if (n > (SIZE_MAX - 2) / 6)
		errx(EXIT_SYS, "line too long");
	out_need(o, 6 * n + 2);
	w = o->buf + o->len;
	*w++ = '"';
	for (i = 0; i < n; i++) {
		switch (p[i]) {
		case '"':  *w++ = '\\'; *w++ = '"'; continue;
		case '\\': *w++ = '\\'; *w++ = '\\'; continue;
		case '\n': *w++ = '\\'; *w++ = 'n'; continue;
		case '\r': *w++ = '\\'; *w++ = 'r'; continue;
		case '\t': *w++ = '\\'; *w++ = 't'; continue;
		}
		if (p[i] >= 0x20 && p[i] < 0x7f) {
			*w++ = (char)p[i];
			continue;
		}
		memcpy(w, "\\u00", 4);
		w[4] = hex[p[i] >> 4];
		w[5] = hex[p[i] & 0xf];
		w += 6;
	}
	*w++ = '"';
	o->len = (size_t)(w - o->buf);
}

static void
out_cstr(struct out *o, const char *s)
{
	out_text(o, (const unsigned char *)s, strlen(s));
}

/* A member's name: a comma unless it is the object's first. */
static void
out_key(struct out *o, const char *key)
{
	if (o->len > 0 && o->buf[o->len - 1] != '{')
		out_add(o, ",", 1);
	out_cstr(o, key);
	out_add(o, ":", 1);
}

static void
out_base64(struct out *o, const unsigned char *p, size_t n)
{
	if (n / 3 > (SIZE_MAX - 8) / 4)
		errx(EXIT_SYS, "line too long");
	out_need(o, (n + 2) / 3 * 4 + 2);
	out_add(o, "\"", 1);
	o->len += b64_encode(o->buf + o->len, p, n);
	out_add(o, "\"", 1);
}

/* End the line and write it with one write(2). */
static void
out_line(struct out *o)
{
	out_add(o, "}\n", 2);
	if (write_all(STDOUT_FILENO, o->buf, o->len) == -1)
		err(EXIT_SYS, "stdout");
	o->len = 0;
}

/* 1 to 15 decimal digits, no leading zero: written as a JSON number. */
static int
is_number(const char *s, size_t n)
{
	size_t i;

	if (n < 1 || n > NUM_DIGITS || (n > 1 && s[0] == '0'))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* A key=value line's key would overwrite a member every record has. */
static int
reserved(const char *k, size_t n)
{
	static const char *const names[] = {
		"ts", "sid", "kind", "dir", "len", "data", "text", NULL
	};
	const char *const *np;

	for (np = names; *np != NULL; np++)
		if (strlen(*np) == n && memcmp(*np, k, n) == 0)
			return 1;
	return 0;
}

/* Did a line before p (in the payload starting at start) have key k? */
static int
seen_key(const char *start, const char *p, const char *k, size_t n)
{
	const char *nl;

	for (; start < p; start = nl + 1) {
		nl = memchr(start, '\n', (size_t)(p - start));
		if (nl == NULL)
			nl = p;
		if ((size_t)(nl - start) > n && start[n] == '=' &&
		    memcmp(start, k, n) == 0)
			return 1;
	}
	return 0;
}

/*
 * The key=value lines of open, close and gap as members of the record's
 * object: digits as numbers, the rest as strings.  A key that repeats
 * keeps its first value (as tap_kv reads it); lines with no '=' or an
 * empty key are left out; a key named like a record member gets "kv.".
 */
static void
out_kv(struct out *o, const char *p, size_t len)
{
	const char *end = p + len, *line, *nl, *eq;
	char key[256];
	size_t klen;

	for (line = p; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		eq = memchr(line, '=', (size_t)(nl - line));
		if (eq == NULL || eq == line)
			continue;
		klen = (size_t)(eq - line);
		if (seen_key(p, line, line, klen))
			continue;
		(void)snprintf(key, sizeof(key), "%s%.*s",
		    reserved(line, klen) ? "kv." : "",
		    (int)(klen < 200 ? klen : 200), line);
		out_key(o, key);
		if (is_number(eq + 1, (size_t)(nl - eq - 1)))
			out_add(o, eq + 1, (size_t)(nl - eq - 1));
		else
			out_text(o, (const unsigned char *)eq + 1,
			    (size_t)(nl - eq - 1));
	}
}

static int
is_kv_kind(const char *kind)
{
	return strcmp(kind, "open") == 0 || strcmp(kind, "close") == 0 ||
	    strcmp(kind, "gap") == 0;
}

/* The whole payload into c->pay; errors end the program. */
static void
read_payload(struct tap_reader *r, struct ctx *c, uint64_t len)
{
	unsigned char *p;
	ssize_t got;

	if (len > SIZE_MAX - 1)
		errx(EXIT_SYS, "record %llu: payload too large",
		    (unsigned long long)r->recno);
	if (len + 1 > c->paycap) {
		if ((p = realloc(c->pay, (size_t)len + 1)) == NULL)
			err(EXIT_SYS, "record %llu: %llu bytes",
			    (unsigned long long)r->recno,
			    (unsigned long long)len);
		c->pay = p;
		c->paycap = (size_t)len + 1;
	}
	for (c->paylen = 0; c->paylen < len; c->paylen += (size_t)got)
		if ((got = tap_payload(r, c->pay + c->paylen,
		    (size_t)len - c->paylen)) == -1)
			errx(errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s",
			    r->err);
	c->pay[c->paylen] = '\0';	/* tap_kv and strtonum need no more */
}

static void
record_line(struct ctx *c, const struct tap_rec *rec)
{
	struct out *o = &c->out;

	out_add(o, "{", 1);
	out_key(o, "ts");
	out_secs(o, rec->us);
	out_key(o, "sid");
	out_cstr(o, rec->sid);
	out_key(o, "kind");
	out_cstr(o, rec->kind);
	out_key(o, "dir");
	if (strcmp(rec->dir, "-") == 0)
		out_str(o, "null");
	else
		out_cstr(o, rec->dir);
	out_key(o, "len");
	out_u64(o, rec->len);
	if (is_kv_kind(rec->kind))
		out_kv(o, (const char *)c->pay, c->paylen);
	else if (!c->nodata &&
	    (rec->len > 0 || strcmp(rec->kind, "data") == 0)) {
		out_key(o, "data");
		out_base64(o, c->pay, c->paylen);
		if (c->text) {
			out_key(o, "text");
			out_text(o, c->pay, c->paylen);
		}
	}
	out_line(o);
}

static void
sess_forget(struct ctx *c, struct sess *s)
{
	free(s->client);
	free(s->server);
	tap_sessions_forget(&c->sess, s);
}

/* The table is full and its oldest session goes to make room. */
static void
sess_evict(void *elem)
{
	struct sess *s = elem;

	warnx("more than %d open sessions: forgetting session %s",
	    SESS_MAX, s->sid);
	free(s->client);
	free(s->server);
}

/* Add a history letter the first time it happens, as Zeek does. */
static void
hist_add(struct sess *s, char letter)
{
	size_t n = strlen(s->hist);

	if (strchr(s->hist, letter) == NULL && n < HIST_MAX)
		s->hist[n] = letter;
}

static char *
kv_dup(const struct ctx *c, const char *key)
{
	char v[ADDR_STRLEN];
	char *d;

	if (!tap_kv((const char *)c->pay, c->paylen, key, v, sizeof(v)))
		return NULL;
	if ((d = strdup(v)) == NULL)
		err(EXIT_SYS, "strdup");
	return d;
}

/* An open starts the session afresh: a SID is never reused. */
static void
track_open(struct ctx *c, const struct tap_rec *rec)
{
	struct sess *s;

	if ((s = tap_sessions_find(&c->sess, rec->sid)) != NULL)
		sess_forget(c, s);
	s = tap_sessions_add(&c->sess, rec->sid);
	s->opened = 1;
	s->open_us = rec->us;
	s->client = kv_dup(c, "client");
	s->server = kv_dup(c, "server");
	/*
	 * The client's attempt; with server= the relay reached the target,
	 * so the handshake completed (the letters a capture would show).
	 */
	hist_add(s, 'S');
	if (s->server != NULL) {
		hist_add(s, 'h');
		hist_add(s, 'A');
	}
}

/* Orig (client) letters upper case, resp (server) lower case. */
static void
track(struct ctx *c, const struct tap_rec *rec)
{
	struct sess *s;
	int d;

	if (strcmp(rec->kind, "open") == 0) {
		track_open(c, rec);
		return;
	}
	if ((s = tap_sessions_find(&c->sess, rec->sid)) == NULL)
		s = tap_sessions_add(&c->sess, rec->sid);
	if (strcmp(rec->dir, "-") == 0)
		return;
	d = strcmp(rec->dir, "s2c") == 0;
	if (strcmp(rec->kind, "data") == 0 && rec->len > 0) {
		hist_add(s, d ? 'd' : 'D');
		s->bytes[d] += rec->len;
	} else if (strcmp(rec->kind, "shut") == 0)
		hist_add(s, d ? 'f' : 'F');
	else if (strcmp(rec->kind, "gap") == 0)
		hist_add(s, d ? 'g' : 'G');
}

/*
 * "IP:PORT" and "[V6]:PORT" as a host string and a port number; anything
 * else (unix:PATH, an address this program cannot read) whole as the
 * host, with a null port.  An absent address is null, null.
 */
static void
out_addr(struct out *o, const char *hkey, const char *pkey, const char *a)
{
	char host[ADDR_STRLEN], buf[sizeof(struct in6_addr)];
	const char *colon = NULL, *errstr = NULL, *h = a;
	long long port = -1;
	size_t hlen = 0;
	int af = AF_INET;

	if (a != NULL && *a == '[') {
		af = AF_INET6;
		h = a + 1;
		colon = strstr(a, "]:");
		hlen = colon != NULL ? (size_t)(colon - h) : 0;
		colon = colon != NULL ? colon + 1 : NULL;
	} else if (a != NULL && (colon = strrchr(a, ':')) != NULL)
		hlen = (size_t)(colon - a);
	if (a != NULL && colon != NULL && hlen > 0 && hlen < sizeof(host)) {
		memcpy(host, h, hlen);
		host[hlen] = '\0';
		if (colon[1] != '\0' && colon[1 + strspn(colon + 1,
		    "0123456789")] == '\0')
			port = strtonum(colon + 1, 0, 65535, &errstr);
		if (errstr != NULL || inet_pton(af, host, buf) != 1)
			port = -1;
	}
	out_key(o, hkey);
	if (a == NULL)
		out_str(o, "null");
	else
		out_cstr(o, port == -1 ? a : host);
	out_key(o, pkey);
	if (port == -1)
		out_str(o, "null");
	else
		out_u64(o, (uint64_t)port);
}

/* A close payload's number, or -1. */
static long long
kv_num(const struct ctx *c, const char *key)
{
	char v[32];

	if (!tap_kv((const char *)c->pay, c->paylen, key, v, sizeof(v)) ||
	    !is_number(v, strlen(v)))
		return -1;
	return strtonum(v, 0, LLONG_MAX, NULL);
}

/*
 * Zeek's conn_state from how the relay saw the end: SF a normal end,
 * RSTO / RSTR a reset by the client / the server, REJ a target never
 * reached, OTH the rest (timeout, shutdown, errors after connecting,
 * resets by the relay).
 */
static const char *
conn_state(const struct sess *s, const char *reason, const char *by)
{
	if (strcmp(reason, "eof") == 0)
		return "SF";
	if (strcmp(reason, "reset") == 0 && strcmp(by, "client") == 0)
		return "RSTO";
	if (strcmp(reason, "reset") == 0 && strcmp(by, "server") == 0)
		return "RSTR";
	if (strcmp(reason, "error") == 0 && s->server == NULL)
		return "REJ";
	return "OTH";
}

static void
out_opt_num(struct out *o, const char *key, long long v, uint64_t dflt,
    int have_dflt)
{
	out_key(o, key);
	if (v >= 0)
		out_u64(o, (uint64_t)v);
	else if (have_dflt)
		out_u64(o, dflt);
	else
		out_str(o, "null");
}

static void
summary_line(struct ctx *c, const struct tap_rec *rec, struct sess *s)
{
	struct out *o = &c->out;
	char reason[64], by[64];
	long long dur = kv_num(c, "duration_us");
	uint64_t start;

	if (!tap_kv((const char *)c->pay, c->paylen, "reason", reason,
	    sizeof(reason)))
		reason[0] = '\0';
	if (!tap_kv((const char *)c->pay, c->paylen, "by", by, sizeof(by)))
		by[0] = '\0';
	if (strcmp(reason, "reset") == 0)
		hist_add(s, strcmp(by, "server") == 0 ? 'r' : 'R');
	/* Without its open, the close tells when the session began. */
	if (s->opened)
		start = s->open_us;
	else
		start = dur >= 0 && (uint64_t)dur <= rec->us ?
		    rec->us - (uint64_t)dur : rec->us;
	if (dur < 0 && s->opened && rec->us >= s->open_us)
		dur = (long long)(rec->us - s->open_us);

	out_add(o, "{", 1);
	out_key(o, "ts");
	out_secs(o, start);
	out_key(o, "sid");
	out_cstr(o, rec->sid);
	out_key(o, "kind");
	out_str(o, "\"conn\"");
	out_key(o, "uid");
	out_cstr(o, rec->sid);
	out_addr(o, "id.orig_h", "id.orig_p", s->client);
	out_addr(o, "id.resp_h", "id.resp_p", s->server);
	out_key(o, "proto");
	out_str(o, "\"tcp\"");
	out_key(o, "duration");
	if (dur >= 0)
		out_secs(o, (uint64_t)dur);
	else
		out_str(o, "null");
	out_opt_num(o, "orig_bytes", kv_num(c, "c2s_bytes"), s->bytes[0], 1);
	out_opt_num(o, "resp_bytes", kv_num(c, "s2c_bytes"), s->bytes[1], 1);
	out_key(o, "conn_state");
	out_cstr(o, conn_state(s, reason, by));
	out_key(o, "history");
	out_cstr(o, s->hist);
	out_key(o, "reason");
	if (*reason != '\0')
		out_cstr(o, reason);
	else
		out_str(o, "null");
	out_key(o, "by");
	if (*by != '\0')
		out_cstr(o, by);
	else
		out_str(o, "null");
	out_line(o);
}

static void
json_stream(struct ctx *c)
{
	struct tap_reader r;
	struct tap_rec rec;
	struct sess *s;
	int rv;

	if (tap_reader_init(&r, STDIN_FILENO, "stdin", 0) == -1)
		errx(EXIT_SYS, "%s", r.err);
	while ((rv = tap_next(&r, &rec)) == 1) {
		if (c->sid != NULL && strcmp(rec.sid, c->sid) != 0)
			continue;
		/* Unread payload is skipped by the next tap_next. */
		c->paylen = 0;
		if (is_kv_kind(rec.kind) || !c->nodata)
			read_payload(&r, c, rec.len);
		track(c, &rec);
		record_line(c, &rec);
		if (strcmp(rec.kind, "close") == 0 &&
		    (s = tap_sessions_find(&c->sess, rec.sid)) != NULL) {
			summary_line(c, &rec, s);
			sess_forget(c, s);
		}
	}
	if (rv == -1)
		errx(errno == EBADMSG ? EXIT_DATA : EXIT_SYS, "%s", r.err);
	tap_reader_free(&r);
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL,	'h' },
		{ "no-data",	no_argument,		NULL,	'N' },
		{ "sid",	required_argument,	NULL,	's' },
		{ "text",	no_argument,		NULL,	'T' },
		{ NULL,		0,			NULL,	0 }
	};
	struct ctx c;
	struct sess *s;
	int ch;

	memset(&c, 0, sizeof(c));
	tap_sessions_init(&c.sess, sizeof(struct sess), SESS_MAX, sess_evict);
	while ((ch = getopt_long(argc, argv, "hs:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			usage(0);
		case 'N':
			c.nodata = 1;
			break;
		case 's':
			if (!tap_sid_valid(optarg)) {
				warnx("-s %s: not a session id", optarg);
				usage(EXIT_USAGE);
			}
			c.sid = optarg;
			break;
		case 'T':
			c.text = 1;
			break;
		default:
			usage(EXIT_USAGE);
		}
	}
	if (optind != argc) {
		warnx("%s: no operands: the input is stdin", argv[optind]);
		usage(EXIT_USAGE);
	}
	if (c.nodata && c.text) {
		warnx("--no-data and --text: choose one");
		usage(EXIT_USAGE);
	}
	json_stream(&c);
	while ((s = tap_sessions_last(&c.sess)) != NULL)
		sess_forget(&c, s);
	tap_sessions_free(&c.sess);
	free(c.pay);
	free(c.out.buf);
	return 0;
}
