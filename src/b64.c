/*
 * The one base64 encoder (RFC 4648, standard alphabet, '=' padding, no
 * line breaks), for filters that put payloads into text formats.
 * Table-driven like hex.c: every byte that crosses a relay may pass
 * through it.
 */

#include <stdint.h>

#include "tcptap.h"

static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Encode n bytes into out, which has room for B64_LEN(n) characters; no
 * NUL is written.  Returns B64_LEN(n).
 */
size_t
b64_encode(char *out, const unsigned char *p, size_t n)
{
	char *o = out;
	uint32_t v;

	for (; n >= 3; p += 3, n -= 3) {
		v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 0x3f];
		*o++ = b64chars[(v >> 6) & 0x3f];
		*o++ = b64chars[v & 0x3f];
	}
	if (n > 0) {
		v = (uint32_t)p[0] << 16 | (n == 2 ? (uint32_t)p[1] << 8 : 0);
		*o++ = b64chars[v >> 18];
		*o++ = b64chars[(v >> 12) & 0x3f];
		*o++ = n == 2 ? b64chars[(v >> 6) & 0x3f] : '=';
		*o++ = '=';
	}
	return (size_t)(o - out);
}
