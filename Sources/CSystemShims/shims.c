#define _GNU_SOURCE
#include "CSystemShims.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

int kserve_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowfd) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowfd);
}

int kserve_spawn(pid_t *pid, const char *path, char *const argv[], char *const envp[],
                 const int *dup_from, const int *dup_to, int dup_count, int close_from,
                 int new_process_group) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t all, none;
    int rc;

    if ((rc = posix_spawn_file_actions_init(&actions)) != 0) return rc;
    if ((rc = posix_spawnattr_init(&attr)) != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return rc;
    }
    for (int i = 0; i < dup_count && rc == 0; i++) {
        rc = posix_spawn_file_actions_adddup2(&actions, dup_from[i], dup_to[i]);
    }
    if (rc == 0 && close_from >= 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, close_from);

    short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
    if (new_process_group) flags |= POSIX_SPAWN_SETPGROUP;
    sigfillset(&all);
    sigemptyset(&none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0 && new_process_group) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, flags);
    if (rc == 0) rc = posix_spawn(pid, path, &actions, &attr, argv, envp);

    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}

int kserve_set_parent_death_signal(int sig) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
}

static volatile int kserve_signal_write_fd = -1;

static void kserve_signal_pipe_handler(int sig) {
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    int fd = kserve_signal_write_fd;
    if (fd >= 0) {
        ssize_t ignored = write(fd, &byte, 1);  // EAGAIN (pipe full) drops the byte: one is enough
        (void)ignored;
    }
    errno = saved;
}

static int kserve_move_fd(int fd, int min_fd) {
    if (fd >= min_fd) return fd;
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, min_fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return moved;
}

int kserve_signal_pipe_install(const int *signals, int count, int min_fd) {
    int fds[2];
    if (kserve_signal_write_fd >= 0) {
        errno = EBUSY;
        return -1;
    }
    if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
    int r = kserve_move_fd(fds[0], min_fd);
    int w = r < 0 ? -1 : kserve_move_fd(fds[1], min_fd);
    if (r < 0 || w < 0) {
        int saved = errno;
        if (r >= 0) close(r);
        if (r < 0) close(fds[1]);
        errno = saved;
        return -1;
    }
    // moved descriptors keep O_NONBLOCK (a file status flag shared with the duplicate)
    kserve_signal_write_fd = w;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = kserve_signal_pipe_handler;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < count; i++) {
        sa.sa_flags = SA_RESTART;
        if (signals[i] == SIGCHLD) sa.sa_flags |= SA_NOCLDSTOP;
        if (sigaction(signals[i], &sa, NULL) != 0) return -1;
    }
    return r;
}

int kserve_signal_set_ignored(int sig, int ignore) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = ignore ? SIG_IGN : SIG_DFL;
    sigemptyset(&sa.sa_mask);
    return sigaction(sig, &sa, NULL);
}

int kserve_wifexited(int status) { return WIFEXITED(status); }
int kserve_wexitstatus(int status) { return WEXITSTATUS(status); }
int kserve_wifsignaled(int status) { return WIFSIGNALED(status); }
int kserve_wtermsig(int status) { return WTERMSIG(status); }
int kserve_wcoredump(int status) { return WCOREDUMP(status); }
