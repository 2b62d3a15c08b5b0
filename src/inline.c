/*
 * Inline filters (-x): programs in the data path of one direction.  A
 * chain of them is started per connection; the relay feeds the first
 * one's stdin and sends on what the last one writes.  Between filters
 * the bytes go pipe to pipe, not through the relay.
 */

#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tcptap.h"

#define EXIT_WAIT_MS	500	/* for a filter to exit after its EOF */
#define REAP_MS		2000	/* at the end, then SIGKILL */

static pid_t
filter_spawn(const char *cmd, int in, int out)
{
	pid_t pid;

	if ((pid = fork()) != 0)
		return pid;
	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1)
		_exit(EXIT_SYS);
	child_reset_signals();
	closefrom(3);
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Start cmds[0] | cmds[1] | ...; -1 with errno if it could not. */
int
inline_start(struct inline_chain *x, char **cmds, int n)
{
	int in[2], out[2], prev, i;

	memset(x, 0, sizeof(*x));
	if ((x->pids = calloc((size_t)n, sizeof(pid_t))) == NULL)
		return -1;
	if (pipe2(in, O_CLOEXEC) == -1)
		return -1;
	x->in = in[1];
	prev = in[0];
	for (i = 0; i < n; i++) {
		if (pipe2(out, O_CLOEXEC) == -1)
			return -1;
		if ((x->pids[i] = filter_spawn(cmds[i], prev, out[1])) == -1)
			return -1;
		x->n++;
		(void)close(prev);
		(void)close(out[1]);
		prev = out[0];
	}
	x->out = prev;
	return 0;
}

/* Collect the exit status of filters that have exited. */
static void
chain_reap(struct inline_chain *x, int block_ms)
{
	int i, st, left;

	for (int t = 0; t <= block_ms / 10; t++) {
		for (i = 0, left = 0; i < x->n; i++) {
			if (x->pids[i] <= 0)
				continue;
			if (waitpid(x->pids[i], &st, WNOHANG) != x->pids[i]) {
				left++;
				continue;
			}
			if (WIFEXITED(st) && WEXITSTATUS(st) == INLINE_RESET)
				x->reset = 1;
			x->pids[i] = -1;
		}
		if (left == 0 || t == block_ms / 10)
			return;
		(void)poll(NULL, 0, 10);
	}
}

/*
 * The chain's output ended.  Did a filter exit with INLINE_RESET, the
 * documented way to end the connection with a reset?
 */
int
inline_wants_reset(struct inline_chain *x)
{
	chain_reap(x, EXIT_WAIT_MS);
	return x->reset;
}

/* The connection is over: the filters have EOF; reap, or kill. */
void
inline_finish(struct inline_chain *x)
{
	int i;

	chain_reap(x, REAP_MS);
	for (i = 0; i < x->n; i++)
		if (x->pids[i] > 0) {
			(void)kill(x->pids[i], SIGKILL);
			(void)waitpid(x->pids[i], NULL, 0);
		}
	free(x->pids);
	x->pids = NULL;
}
