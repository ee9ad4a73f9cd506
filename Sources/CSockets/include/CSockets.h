// CSockets: the GNU socket calls the Glibc module hides (no OpenSSL: the agent's health and
// metrics server links this, not CTLS).
#pragma once
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC.
int csockets_accept_nonblocking(int listen_fd, struct sockaddr *addr, socklen_t *addrlen);
/// pipe2(2) with O_NONBLOCK | O_CLOEXEC.
int csockets_pipe_nonblocking(int fds[2]);
/// The value of POLLRDHUP (needs _GNU_SOURCE).
short csockets_pollrdhup(void);

#ifdef __cplusplus
}
#endif
