/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/*
 * a signal the agent reads from a signalfd (SIGCHLD for the reaper, SIGIO for the ports): blocked
 * in every thread first, so that none takes it, then read without blocking
 */

#include <signal.h>
#include <sys/signalfd.h>

#include <glib.h>

/* before any thread exists: every thread inherits the mask */
static inline void
cocoon_guest_signal_block(int signo)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, signo);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
}

/* a non-blocking, close-on-exec signalfd for signo; -1 with errno set */
static inline int
cocoon_guest_signal_fd(int signo)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, signo);
	return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}
