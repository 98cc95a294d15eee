// SPDX-License-Identifier: Apache-2.0
/*
 * pause: the process a CRI pod sandbox keeps alive, built statically at test time and put into a
 * busybox image (tests/lib/containerd.sh builds it when CONTAINERD_CRI=1).
 *
 * it sleeps until SIGTERM or SIGINT, which end it with 0; as the pid 1 of its namespace it reaps
 * whatever is reparented to it, since nothing else would.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_stop(int signo)
{
	(void)signo;
	stop = 1;
}

static void
on_child(int signo)
{
	(void)signo;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

int
main(void)
{
	struct sigaction action;

	memset(&action, 0, sizeof(action));
	action.sa_handler = on_stop;
	if (sigaction(SIGTERM, &action, NULL) != 0 || sigaction(SIGINT, &action, NULL) != 0) {
		perror("pause: sigaction");
		return 1;
	}
	action.sa_handler = on_child;
	action.sa_flags = SA_NOCLDSTOP;
	if (sigaction(SIGCHLD, &action, NULL) != 0) {
		perror("pause: sigaction");
		return 1;
	}
	while (!stop)
		pause();
	return 0;
}
