#define _GNU_SOURCE
#include "CSystemShims.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/prctl.h>
#include <sys/socket.h>
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

int kserve_unix_listen_queue(unsigned long long inode, unsigned int *queued, unsigned int *backlog) {
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) return -1;
    struct {
        struct nlmsghdr header;
        struct unix_diag_req request;
    } message;
    memset(&message, 0, sizeof message);
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = NLM_F_REQUEST;  // one socket by inode, not a dump
    message.header.nlmsg_seq = 1;
    message.request.sdiag_family = AF_UNIX;
    message.request.udiag_states = ~0u;
    message.request.udiag_ino = (unsigned int)inode;
    message.request.udiag_show = UDIAG_SHOW_RQLEN;
    message.request.udiag_cookie[0] = ~0u;  // INET_DIAG_NOCOOKIE: no cookie check
    message.request.udiag_cookie[1] = ~0u;
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    ssize_t sent;
    do {
        sent = sendto(fd, &message, sizeof message, 0, (struct sockaddr *)&kernel, sizeof kernel);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    long buffer[1024];  // aligned for nlmsghdr
    ssize_t n;
    do {
        n = recv(fd, buffer, sizeof buffer, 0);
    } while (n < 0 && errno == EINTR);
    int saved = errno;
    close(fd);
    if (n < 0) {
        errno = saved;
        return -1;
    }
    int length = (int)n;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, length); h = NLMSG_NEXT(h, length)) {
        if (h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *error = (struct nlmsgerr *)NLMSG_DATA(h);
            errno = error->error ? -error->error : ENOENT;
            return -1;
        }
        if (h->nlmsg_type == NLMSG_DONE) break;
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) continue;
        struct unix_diag_msg *reply = (struct unix_diag_msg *)NLMSG_DATA(h);
        if (reply->udiag_ino != (unsigned int)inode) continue;
        int attributes = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *reply));
        for (struct rtattr *a = (struct rtattr *)(reply + 1); RTA_OK(a, attributes); a = RTA_NEXT(a, attributes)) {
            if (a->rta_type == UNIX_DIAG_RQLEN && RTA_PAYLOAD(a) >= sizeof(struct unix_diag_rqlen)) {
                struct unix_diag_rqlen *q = (struct unix_diag_rqlen *)RTA_DATA(a);
                *queued = q->udiag_rqueue;
                *backlog = q->udiag_wqueue;
                return 0;
            }
        }
    }
    errno = ENOENT;
    return -1;
}

int kserve_redirect_output(const char *path) {
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return -1;
    if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    if (fd > 2) close(fd);
    return 0;
}

int kserve_wifexited(int status) { return WIFEXITED(status); }
int kserve_wexitstatus(int status) { return WEXITSTATUS(status); }
int kserve_wifsignaled(int status) { return WIFSIGNALED(status); }
int kserve_wtermsig(int status) { return WTERMSIG(status); }
int kserve_wcoredump(int status) { return WCOREDUMP(status); }

// Parses "<signal>:<parent pid>" (and, with `path`, ":<absolute path>"); returns 0 or -1.
static int kserve_parse_guard(const char *spec, int *sig, pid_t *parent, const char **path) {
    char *end = NULL;
    long s = strtol(spec, &end, 10);
    if (end == NULL || *end != ':' || s <= 0 || s >= 65) return -1;
    long p = strtol(end + 1, &end, 10);
    if (end == NULL || p <= 1) return -1;
    if (path != NULL) {
        if (*end != ':' || end[1] != '/') return -1;
        *path = end + 1;
    } else if (*end != '\0') {
        return -1;
    }
    *sig = (int)s;
    *parent = (pid_t)p;
    return 0;
}

// The parent-death set-up and the exec guard (see CSystemShims.h). Runs before main in every process of the
// binary, on the main thread (which lives as long as the process: PR_SET_PDEATHSIG is a per-thread setting, so
// setting it from a Swift concurrency thread that may exit later is not enough). Does nothing unless one of the
// variables is set. glibc passes argc, argv and envp to ELF constructors.
__attribute__((constructor, used)) static void kserve_process_guards(int argc, char **argv, char **envp) {
    (void)argc;
    (void)envp;
    int sig;
    pid_t parent;
    const char *deathSpec = getenv("KSERVE_PARENT_DEATH_SIGNAL");
    if (deathSpec != NULL && kserve_parse_guard(deathSpec, &sig, &parent, NULL) == 0) {
        prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0);
        if (getppid() != parent) _exit(1);  // the master died before the prctl
    }
    const char *spec = getenv("KSERVE_EXEC_GUARD");
    if (spec == NULL) return;
    const char *path = NULL;
    if (kserve_parse_guard(spec, &sig, &parent, &path) != 0) _exit(126);
    char target[4096];
    size_t length = strlen(path);
    if (length >= sizeof target) _exit(126);
    memcpy(target, path, length + 1);
    if (prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0, 0, 0) != 0) _exit(126);
    if (getppid() != parent) _exit(1);  // the parent died before the prctl: nothing to guard
    unsetenv("KSERVE_EXEC_GUARD");
    execv(target, argv);
    _exit(127);
}

int kserve_malloc_trim(void) {
    return malloc_trim(0);
}

int kserve_accept_poller_create(int listen_fd, int wake_fd) {
    int poller = epoll_create1(EPOLL_CLOEXEC);
    if (poller < 0) return -1;
    struct epoll_event listen_event = { .events = EPOLLIN | EPOLLEXCLUSIVE, .data = { .fd = listen_fd } };
    struct epoll_event wake_event = { .events = EPOLLIN, .data = { .fd = wake_fd } };
    if (epoll_ctl(poller, EPOLL_CTL_ADD, listen_fd, &listen_event) != 0 ||
        epoll_ctl(poller, EPOLL_CTL_ADD, wake_fd, &wake_event) != 0) {
        int saved = errno;
        close(poller);
        errno = saved;
        return -1;
    }
    return poller;
}

int kserve_accept_poller_wait(int poller, int wake_fd, int timeout_ms) {
    struct epoll_event events[2];
    int n = epoll_wait(poller, events, 2, timeout_ms);
    if (n <= 0) return n;
    int result = 0;
    for (int i = 0; i < n; i++) {
        if (events[i].data.fd == wake_fd) return 2;
        result = 1;
    }
    return result;
}

void kserve_tune_malloc(int mmap_threshold, int trim_threshold) {
    mallopt(M_MMAP_THRESHOLD, mmap_threshold);
    mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

#include <sched.h>
#include <string.h>
#include <sys/prctl.h>

int kserve_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    return CPU_COUNT(&set);
}

void kserve_set_process_title(int argc, char **argv, const char *comm, const char *title) {
    if (comm != NULL) {
        // prctl(PR_SET_NAME) names only the calling thread; /proc/self/comm is the main thread's (the process's
        // name in ps and top), whichever thread runs this.
        int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
            ssize_t ignored = write(fd, comm, strlen(comm));
            (void)ignored;
            close(fd);
        } else {
            prctl(PR_SET_NAME, (unsigned long)comm, 0, 0, 0);
        }
    }
    if (title == NULL || argc < 1 || argv == NULL || argv[0] == NULL) return;
    // The argv strings are contiguous: use the span from argv[0] to the end of the last one that follows on.
    char *start = argv[0];
    char *end = argv[0] + strlen(argv[0]);
    for (int i = 1; i < argc; i++) {
        if (argv[i] != end + 1) break;
        end = argv[i] + strlen(argv[i]);
    }
    size_t room = (size_t)(end - start);
    size_t n = strlen(title);
    if (n > room) n = room;
    memcpy(start, title, n);
    memset(start + n, 0, room - n + 1);
}
