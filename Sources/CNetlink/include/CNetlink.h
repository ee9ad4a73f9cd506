#pragma once
// CNetlink: thin C helpers for what Swift cannot express directly (variadic ioctl,
// setns, packet sockets with a classic BPF filter, netlink requests with ancillary
// attributes). Every function returns 0 (or a descriptor) on success and -errno on
// failure; nothing here allocates or keeps state. Message parsing is done in Swift
// over byte arrays, bounds-checked.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Multicast groups for cnl_rtnl_open: links, IPv4/IPv6 addresses, IPv4/IPv6 routes.
#define CNL_RTMGRP_LINK 0x1
#define CNL_RTMGRP_IPV4_IFADDR 0x10
#define CNL_RTMGRP_IPV6_IFADDR 0x100
#define CNL_RTMGRP_IPV4_ROUTE 0x40
#define CNL_RTMGRP_IPV6_ROUTE 0x400

/// Opens a NETLINK_ROUTE socket (close-on-exec) bound to `groups` (0 for a plain
/// request socket) with a receive buffer of `rcvbuf` bytes (0 keeps the default).
/// Returns the descriptor or -errno.
int cnl_rtnl_open(uint32_t groups, int rcvbuf);

/// Sends a dump request: `what` 0 = RTM_GETLINK (with IFLA_EXT_MASK =
/// RTEXT_FILTER_SKIP_STATS), 1 = RTM_GETADDR, 2 = RTM_GETROUTE (all families).
/// Returns 0 or -errno.
int cnl_rtnl_request_dump(int fd, int what, uint32_t seq);

/// Receives one datagram into `buf` (blocking unless `dontwait`). Returns the number of
/// bytes, or -errno (-ENOBUFS when the kernel dropped notifications). Sets *truncated when
/// the datagram was larger than `cap`.
long cnl_recv(int fd, uint8_t *buf, size_t cap, int dontwait, int *truncated);

/// Moves the calling OS thread into the network namespace at `path`
/// (e.g. /proc/1/ns/net or /var/run/netns/NAME). Returns 0 or -errno.
int cnl_setns_path(const char *path);

/// Opens an AF_INET datagram socket for ethtool ioctls in the current netns.
int cnl_ethtool_socket(void);

/// ETHTOOL_GDRVINFO: copies the driver name and bus info (NUL-terminated).
int cnl_ethtool_drvinfo(int fd, const char *ifname, char *driver, size_t driver_cap,
                        char *bus, size_t bus_cap);

/// ETHTOOL_GLINKSETTINGS (falls back to ETHTOOL_GSET): link speed in Mb/s;
/// 0xFFFFFFFF when the driver reports it unknown.
int cnl_ethtool_speed(int fd, const char *ifname, uint32_t *speed);

/// Opens a raw AF_PACKET socket for LLDP (ethertype 0x88cc) on all interfaces of the
/// current netns, non-blocking and close-on-exec, with a classic BPF filter that accepts
/// only LLDP frames that were not sent by this host. Returns the descriptor or -errno.
int cnl_lldp_open(void);

/// Joins (join != 0) or leaves the LLDP multicast MAC 01:80:c2:00:00:0e on `ifindex`.
int cnl_lldp_membership(int fd, int ifindex, int join);

/// Receives one frame: returns its full length (may exceed `cap`: then it was
/// truncated), the receiving interface index and the packet type. -errno on failure
/// (-EAGAIN when nothing is queued).
long cnl_packet_recv(int fd, uint8_t *buf, size_t cap, int *ifindex, int *pkttype);

/// Opens a raw AF_PACKET socket suitable for sending frames (tests, lab).
int cnl_packet_open_sender(void);

/// Sends a complete Ethernet frame (header included) out of `ifindex`.
long cnl_packet_send(int fd, int ifindex, const uint8_t *frame, size_t len);

/// Creates an eventfd (non-blocking, close-on-exec) used to wake a poll loop.
int cnl_eventfd(void);
/// Adds 1 to an eventfd counter.
int cnl_eventfd_signal(int fd);
/// Drains an eventfd counter.
void cnl_eventfd_drain(int fd);

/// The numeric thread id of the calling thread (for diagnostics and tests).
long cnl_gettid(void);

#ifdef __cplusplus
}
#endif
