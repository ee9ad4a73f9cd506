// CSockets: see include/CSockets.h.
#define _GNU_SOURCE 1
#include "CSockets.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

int csockets_accept_nonblocking(int listen_fd, struct sockaddr *addr, socklen_t *addrlen) {
    return accept4(listen_fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int csockets_pipe_nonblocking(int fds[2]) {
    return pipe2(fds, O_NONBLOCK | O_CLOEXEC);
}

short csockets_pollrdhup(void) {
    return POLLRDHUP;
}
