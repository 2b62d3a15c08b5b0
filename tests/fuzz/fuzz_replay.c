/*
 * tap-replay (filters/tap-replay.c): its option parsing, its streaming
 * read of the recording, the -H 0 byte-stream matcher (recv_stream) and
 * the framed matcher (recv_frame), in both roles.
 *
 * The program is compiled into this harness whole: main is renamed
 * replay_main (not called) and exit is replaced by a longjmp back here,
 * so die(), fail() and usage() end one run, not the fuzzer.  Each run
 * builds an argv from control bytes (-H, -m, --length-offset,
 * --little-endian, --length-includes-header, --adjust, --keep-header,
 * --skip, --timing none, and now and then a bad value), calls the
 * program's parse_opts, opens the fuzzed recording with fmemopen, and
 * calls replay_run with the peer's bytes waiting in a pipe that is then
 * closed (so every read ends: data, then EOF) and the program's output
 * going to /dev/null.  Not covered: --connect's address resolution and
 * connect (fuzz_addr covers the parser), real-time pacing (--timing
 * original would sleep), and -w (a pipe closed at the end never idles).
 *
 * Resources the program leaves behind when it exits (the FILE, the
 * reader's and the receive buffers) are freed here after the longjmp;
 * LeakSanitizer then checks the rest.
 *
 * Input: 8 control bytes, 2 bytes of recording length L, L bytes of
 * recording, the rest is what the peer sends (at most 60000 bytes).
 */
#undef _FORTIFY_SOURCE
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);
void fuzz_exit(int) __attribute__((noreturn));
int replay_main(int, char *[]);

#define exit fuzz_exit
#define main replay_main
#include "../../filters/tap-replay.c"
#undef main
#undef exit

#include "fuzz.h"

static jmp_buf fz_jmp;
static volatile int fz_status;
static struct replay rp;

void
fuzz_exit(int status)
{
	fz_status = status;
	longjmp(fz_jmp, 1);
}

int LLVMFuzzerInitialize(int *, char ***);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* die() logs at LOG_ERR: quiet unless FUZZ_VERBOSE is set. */
	log_init(getenv("FUZZ_VERBOSE") != NULL ? LOG_DEBUG : LOG_EMERG, 0);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static const char *const maxes[] = {
	"0", "1", "7", "255", "65536", "16777216", "4294967296"
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z = { data, size };
	char *argv[32], args[16][32];
	const uint8_t *tsv, *peer;
	size_t tsvlen, peerlen, n;
	struct stat st, nullst;
	uint8_t b[8];
	int argc = 0, na = 0, pfd[2], i;
	volatile int client;
	FILE *volatile f = NULL;

	if (size < sizeof(b) + 2)
		return 0;
	for (i = 0; i < (int)sizeof(b); i++)
		b[i] = fz_u8(&z);
	tsvlen = (size_t)fz_u8(&z) << 8;
	tsvlen |= fz_u8(&z);
	tsv = fz_bytes(&z, tsvlen, &tsvlen);
	peer = fz_bytes(&z, 60000, &peerlen);
	if (tsvlen == 0)
		return 0;

#define ARG(...) do {							\
	snprintf(args[na], sizeof(args[na]), __VA_ARGS__);		\
	argv[argc++] = args[na++];					\
} while (0)
	ARG("tap-replay");
	ARG("--timing");
	ARG("none");
	/* -H 0..16, now and then 17 (a usage error) */
	ARG("-H%d", b[0] % 18 == 17 && !(b[0] & 0x80) ? 8 : b[0] % 18);
	if (b[1] & 1)
		ARG("--length-offset=%d", (b[1] >> 1) % 49);
	if (b[2] & 1)
		ARG("--little-endian");
	if (b[2] & 2)
		ARG("--length-includes-header");
	if (b[2] & 4)
		ARG("--adjust=%d", (int8_t)b[3]);
	if (b[2] & 8)
		ARG("--keep-header");
	if (b[2] & 16)
		ARG("--skip=%d", b[4] % 64);
	if (b[2] & 32)
		ARG("-m%s", maxes[b[5] % 7]);
	if ((b[2] & 64) && b[0] % 18 == 0)
		ARG("-H0");	/* then no other framing option applies */
	client = b[6] & 1;
	ARG("fuzz.tsv");
	argv[argc] = NULL;
#undef ARG

	memset(&rp, 0, sizeof(rp));
	rp.rfd = rp.wfd = -1;
	if (pipe(pfd) == -1)
		return 0;
	(void)fcntl(pfd[1], F_SETPIPE_SZ, 65536);
	n = 0;
	while (n < peerlen) {
		ssize_t w = write(pfd[1], peer + n, peerlen - n);

		FZ_ASSERT(w > 0);
		n += (size_t)w;
	}
	close(pfd[1]);
	FZ_ASSERT(stat("/dev/null", &nullst) == 0);

	fz_status = -1;
	if (setjmp(fz_jmp) == 0) {
		uint64_t max;

		frame_spec_init(&rp.spec);
		rp.rfd = pfd[0];
		rp.wfd = open("/dev/null", O_WRONLY);
		FZ_ASSERT(rp.wfd != -1);
		rp.idle_ms = -1;
		rp.timing = 1;
		rp.speed = 1;
		rp.max_gap_us = -1;
		optind = 0;
		(void)parse_opts(argc, argv, &rp);
		FZ_ASSERT(rp.timing == 0);
		rp.client = client;
		rp.file = "fuzz.tsv";
		f = rp.f = fmemopen((void *)(uintptr_t)tsv, tsvlen, "r");
		FZ_ASSERT(rp.f != NULL);
		max = rp.spec.max + (rp.spec.keep_header ? rp.hsize : 0);
		FZ_ASSERT(tsv_reader_init(&rp.r, rp.f, rp.file, max) == 0);
		replay_run(&rp);
		fz_status = 0;
	}
	FZ_ASSERT(fz_status == 0 || fz_status == EXIT_DATA ||
	    fz_status == EXIT_USAGE);
	tsv_reader_free(&rp.r);
	if (f != NULL)
		fclose(f);
	free(rp.buf);
	close(pfd[0]);
	/* half_close closed it unless the run ended before. */
	if (rp.wfd != -1 && fstat(rp.wfd, &st) == 0 &&
	    st.st_rdev == nullst.st_rdev && S_ISCHR(st.st_mode))
		close(rp.wfd);
	return 0;
}
