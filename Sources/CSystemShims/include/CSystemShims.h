// POSIX and Linux calls that Swift cannot import or cannot express safely:
// posix_spawn_file_actions_addclosefrom_np (declared only under _GNU_SOURCE), prctl(PR_SET_PDEATHSIG),
// a complete posix_spawn for worker and helper processes, and async-signal-safe self-pipe signal handlers
// (a Swift closure cannot be a C signal handler).
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Adds a "close every descriptor >= lowfd" action (glibc's posix_spawn_file_actions_addclosefrom_np).
/// Returns 0 or an errno value.
int kserve_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd);

/// Spawns `path` with `argv` and `envp` (both NULL-terminated) and stores the child's pid in `*pid`.
///
/// In the child, in this order: every signal is reset to its default disposition and the signal mask is
/// emptied; the child becomes the leader of a new process group when `new_process_group` is non-zero;
/// `dup_from[i]` is duplicated onto `dup_to[i]` for each `i < dup_count` (the duplicates have no
/// FD_CLOEXEC); every descriptor >= `close_from` is closed (skipped when `close_from` < 0).
/// Returns 0 or an errno value (posix_spawn's convention).
int kserve_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const int *dup_from, const int *dup_to, int dup_count, int close_from,
                 int new_process_group);

/// prctl(PR_SET_PDEATHSIG, sig): the kernel sends `sig` to the caller when the thread that spawned it exits.
/// Returns 0 or -1 with errno set. Call it early in a worker, then check that getppid() is still the master.
int kserve_set_parent_death_signal(int sig);

/// Creates the self-pipe (both ends O_NONBLOCK and O_CLOEXEC, moved to descriptors >= `min_fd`) and installs,
/// for each of `signals[0..<count]`, a handler that writes the signal number as one byte to the pipe.
/// SA_RESTART is set; SIGCHLD also gets SA_NOCLDSTOP. Bytes are dropped when the pipe is full, so readers
/// must treat a byte as "at least one of these arrived". Call once per process.
/// Returns the read end, or -1 with errno set.
int kserve_signal_pipe_install(const int *signals, int count, int min_fd);

/// Sets the disposition of `sig` to SIG_IGN (ignore = 1) or SIG_DFL (ignore = 0). Returns 0 or -1.
int kserve_signal_set_ignored(int sig, int ignore);

/// The accept queue of a listening Unix stream socket, read with sock_diag (NETLINK_SOCK_DIAG, UDIAG_SHOW_RQLEN):
/// `*queued` = connections waiting to be accepted, `*backlog` = the listen() backlog in force. `inode` is the
/// socket's inode (fstat(fd).st_ino on the socket descriptor, not the inode of the socket file).
/// Returns 0, or -1 with errno set (ENOENT: no such listening socket; EPROTONOSUPPORT: no unix_diag).
int kserve_unix_listen_queue(unsigned long long inode, unsigned int *queued, unsigned int *backlog);

/// Opens `path` for appending (O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, mode 0640) and puts it on descriptors 1
/// and 2 (a log file taking over stdout and stderr). Async-signal-safe, so a SIGUSR1 handler can call it to
/// reopen a rotated log. Returns 0, or -1 with errno set (descriptors 1 and 2 are then unchanged).
int kserve_redirect_output(const char *path);

/// The parent-death guard, for programs that do not set PR_SET_PDEATHSIG themselves (nginx): a process of this
/// binary started with `KSERVE_EXEC_GUARD=<signal>:<parent pid>:<absolute path>` in its environment sets
/// PR_SET_PDEATHSIG to `<signal>` (kept across execve), checks that its parent is still `<parent pid>`, removes
/// the variable and execs `<path>` with its own argv, all in an ELF constructor, before any Swift code runs.
/// So the master spawns `/proc/self/exe` with nginx's argv and this variable, and nginx gets SIGTERM when the
/// master dies, even by SIGKILL. Likewise `KSERVE_PARENT_DEATH_SIGNAL=<signal>:<parent pid>` sets the parent-death
/// signal on the main thread of a worker or gRPC process before Swift starts (PR_SET_PDEATHSIG belongs to the
/// thread that sets it, and Swift concurrency threads come and go). (Nothing to call: the constructor lives in
/// shims.c.)

/// WIFEXITED / WEXITSTATUS / WIFSIGNALED / WTERMSIG / WCOREDUMP as functions (the macros do not import).
int kserve_wifexited(int status);
int kserve_wexitstatus(int status);
int kserve_wifsignaled(int status);
int kserve_wtermsig(int status);
int kserve_wcoredump(int status);

/// An epoll set for one accept loop: `listen_fd` with EPOLLIN | EPOLLEXCLUSIVE (a new connection wakes one waiting
/// loop of the pool, not all of them) and `wake_fd` with EPOLLIN. Returns the epoll descriptor (close-on-exec), or
/// -1 with errno.
int kserve_accept_poller_create(int listen_fd, int wake_fd);

/// Waits on a poller from kserve_accept_poller_create: 2 when `wake_fd` is readable (stop), 1 when the listening
/// socket is, 0 on timeout, -1 on error (errno; EINTR included).
int kserve_accept_poller_wait(int poller, int wake_fd, int timeout_ms);

/// Keeps large buffers in the heap: glibc serves allocations above its mmap threshold (128 KB at first) with a
/// fresh mmap that is zero-filled page by page and unmapped on free, so every multi-megabyte tensor buffer costs
/// thousands of page faults, and its dynamic threshold makes that depend on history. This fixes the threshold at
/// `mmap_threshold` bytes and only trims the heap when more than `trim_threshold` bytes are free at its top.
void kserve_tune_malloc(int mmap_threshold, int trim_threshold);

/// glibc's malloc_trim(0): returns freed heap pages to the system (after loading models). Returns 1 if memory
/// was released.
int kserve_malloc_trim(void);

/// The number of CPUs in this process's affinity mask (sched_getaffinity), or -1.
int kserve_affinity_cpu_count(void);

/// Names this process for ps/top: `comm` (prctl PR_SET_NAME, at most 15 bytes) and, when `title` is not NULL, the
/// command line shown by `ps` and /proc/PID/cmdline, written over the original argv strings (as nginx and php-fpm
/// do; truncated to the space they occupied). `argv` must be the process's original argv.
void kserve_set_process_title(int argc, char **argv, const char *comm, const char *title);

#ifdef __cplusplus
}
#endif
