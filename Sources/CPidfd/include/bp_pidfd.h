#ifndef BP_PIDFD_H
#define BP_PIDFD_H

#include <sys/types.h>

/// Linux process file descriptors (pidfd, Linux 5.3+). A pidfd names one process for as long as
/// the descriptor is open: a signal sent or a wait made through it can never reach a later
/// process that reuses the PID (PIDs wrap around; pid_max is 32768 on many hosts).
/// Each returns -1 with errno set on failure (ENOSYS where the kernel has no pidfd).

/// A pidfd for `pid` (close-on-exec).
int bp_pidfd_open(pid_t pid);

/// Sends `sig` to the process `fd` refers to (ESRCH once it has exited).
int bp_pidfd_send_signal(int fd, int sig);

/// 1 when the process has exited (a zombie or reaped), 0 while it runs.
int bp_pidfd_exited(int fd);

/// Reaps the process if it is this process's child and has exited, without blocking:
/// 1 and its wait status in `*status` when reaped now, 0 when it still runs, -1 otherwise
/// (ECHILD: not our child, or already reaped).
int bp_pidfd_reap(int fd, int *status);

#endif
