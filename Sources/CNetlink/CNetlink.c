#define _GNU_SOURCE
#include "CNetlink.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>

#ifndef RTEXT_FILTER_SKIP_STATS
#define RTEXT_FILTER_SKIP_STATS (1 << 3)
#endif
#ifndef ETH_P_LLDP
#define ETH_P_LLDP 0x88CC
#endif

int cnl_rtnl_open(uint32_t groups, int rcvbuf) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    if (rcvbuf > 0) {
        // SO_RCVBUFFORCE needs CAP_NET_ADMIN; fall back to the capped SO_RCVBUF.
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) != 0)
            (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    }
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    sa.nl_groups = groups;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int cnl_rtnl_request_dump(int fd, int what, uint32_t seq) {
    struct {
        struct nlmsghdr nh;
        union {
            struct ifinfomsg ifi;
            struct ifaddrmsg ifa;
            struct rtmsg rtm;
        } body;
        char attrs[16];
    } req;
    memset(&req, 0, sizeof req);
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = seq;
    if (what == 2) {
        req.nh.nlmsg_type = RTM_GETROUTE;
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg));
        req.body.rtm.rtm_family = AF_UNSPEC;
    } else if (what == 1) {
        req.nh.nlmsg_type = RTM_GETADDR;
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
        req.body.ifa.ifa_family = AF_UNSPEC;
    } else {
        req.nh.nlmsg_type = RTM_GETLINK;
        req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
        req.body.ifi.ifi_family = AF_UNSPEC;
        struct rtattr *rta = (struct rtattr *)((char *)&req + NLMSG_ALIGN(req.nh.nlmsg_len));
        rta->rta_type = IFLA_EXT_MASK;
        rta->rta_len = RTA_LENGTH(sizeof(uint32_t));
        uint32_t mask = RTEXT_FILTER_SKIP_STATS;
        memcpy(RTA_DATA(rta), &mask, sizeof mask);
        req.nh.nlmsg_len = NLMSG_ALIGN(req.nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
    }
    struct sockaddr_nl sa;
    memset(&sa, 0, sizeof sa);
    sa.nl_family = AF_NETLINK;
    ssize_t n = sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa);
    if (n < 0) return -errno;
    return 0;
}

long cnl_recv(int fd, uint8_t *buf, size_t cap, int dontwait, int *truncated) {
    for (;;) {
        ssize_t n = recv(fd, buf, cap, MSG_TRUNC | (dontwait ? MSG_DONTWAIT : 0));
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (truncated) *truncated = (size_t)n > cap;
        return (long)((size_t)n > cap ? cap : (size_t)n);
    }
}

int cnl_setns_path(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int rc = setns(fd, CLONE_NEWNET);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : -e;
}

int cnl_ethtool_socket(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

static int ethtool_ioctl(int fd, const char *ifname, void *data) {
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    size_t n = strlen(ifname);
    if (n == 0 || n >= IFNAMSIZ) return -EINVAL;
    memcpy(ifr.ifr_name, ifname, n);
    ifr.ifr_data = data;
    if (ioctl(fd, SIOCETHTOOL, &ifr) != 0) return -errno;
    return 0;
}

static void copy_field(char *dst, size_t cap, const char *src, size_t srcsize) {
    if (cap == 0) return;
    size_t n = strnlen(src, srcsize);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

int cnl_ethtool_drvinfo(int fd, const char *ifname, char *driver, size_t driver_cap,
                        char *bus, size_t bus_cap) {
    struct ethtool_drvinfo info;
    memset(&info, 0, sizeof info);
    info.cmd = ETHTOOL_GDRVINFO;
    int rc = ethtool_ioctl(fd, ifname, &info);
    if (rc != 0) return rc;
    copy_field(driver, driver_cap, info.driver, sizeof info.driver);
    copy_field(bus, bus_cap, info.bus_info, sizeof info.bus_info);
    return 0;
}

int cnl_ethtool_speed(int fd, const char *ifname, uint32_t *speed) {
    // ETHTOOL_GLINKSETTINGS handshake: ask with nwords = 0, the kernel answers with
    // -nwords; the second call returns the settings. Masks are not needed here.
    uint32_t storage[(sizeof(struct ethtool_link_settings) + 3 * 127 * sizeof(uint32_t)) / sizeof(uint32_t) + 1];
    struct ethtool_link_settings *s = (struct ethtool_link_settings *)storage;
    memset(storage, 0, sizeof storage);
    s->cmd = ETHTOOL_GLINKSETTINGS;
    int rc = ethtool_ioctl(fd, ifname, s);
    if (rc == 0 && s->link_mode_masks_nwords < 0 && s->cmd == ETHTOOL_GLINKSETTINGS) {
        int nwords = -(int)s->link_mode_masks_nwords;
        memset(storage, 0, sizeof storage);
        s->cmd = ETHTOOL_GLINKSETTINGS;
        s->link_mode_masks_nwords = (int8_t)nwords;
        rc = ethtool_ioctl(fd, ifname, s);
        if (rc == 0) {
            *speed = s->speed;
            return 0;
        }
    }
    if (rc != 0 && rc != -EOPNOTSUPP) return rc;
    struct ethtool_cmd cmd;
    memset(&cmd, 0, sizeof cmd);
    cmd.cmd = ETHTOOL_GSET;
    rc = ethtool_ioctl(fd, ifname, &cmd);
    if (rc != 0) return rc;
    *speed = ethtool_cmd_speed(&cmd);
    return 0;
}

int cnl_lldp_open(void) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_LLDP));
    if (fd < 0) return -errno;
    // Accept ethertype 0x88cc frames that were not sent by this host; snap whole frame.
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ETH_P_LLDP, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PKTTYPE)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PACKET_OUTGOING, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, 0x40000),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_LLDP);
    sll.sll_ifindex = 0;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) != 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    return fd;
}

int cnl_lldp_membership(int fd, int ifindex, int join) {
    struct packet_mreq mr;
    memset(&mr, 0, sizeof mr);
    mr.mr_ifindex = ifindex;
    mr.mr_type = PACKET_MR_MULTICAST;
    mr.mr_alen = ETH_ALEN;
    const uint8_t mac[ETH_ALEN] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};
    memcpy(mr.mr_address, mac, ETH_ALEN);
    int opt = join ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP;
    if (setsockopt(fd, SOL_PACKET, opt, &mr, sizeof mr) != 0) return -errno;
    return 0;
}

long cnl_packet_recv(int fd, uint8_t *buf, size_t cap, int *ifindex, int *pkttype) {
    for (;;) {
        struct sockaddr_ll sll;
        socklen_t sl = sizeof sll;
        memset(&sll, 0, sizeof sll);
        ssize_t n = recvfrom(fd, buf, cap, MSG_TRUNC | MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -errno;
        }
        if (ifindex) *ifindex = sll.sll_ifindex;
        if (pkttype) *pkttype = sll.sll_pkttype;
        return (long)n;
    }
}

int cnl_packet_open_sender(void) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

long cnl_packet_send(int fd, int ifindex, const uint8_t *frame, size_t len) {
    if (len < ETH_HLEN) return -EINVAL;
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_ifindex = ifindex;
    sll.sll_halen = ETH_ALEN;
    memcpy(sll.sll_addr, frame, ETH_ALEN);
    uint16_t proto;
    memcpy(&proto, frame + 12, 2);
    sll.sll_protocol = proto;
    ssize_t n = sendto(fd, frame, len, 0, (struct sockaddr *)&sll, sizeof sll);
    return n < 0 ? -errno : (long)n;
}

int cnl_eventfd(void) {
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int cnl_eventfd_signal(int fd) {
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(fd, &one, sizeof one);
        if (n == sizeof one) return 0;
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return 0; // counter saturated: a wake-up is pending anyway
        return n < 0 ? -errno : -EIO;
    }
}

void cnl_eventfd_drain(int fd) {
    uint64_t v;
    while (read(fd, &v, sizeof v) == sizeof v) {
    }
}

long cnl_gettid(void) { return (long)syscall(SYS_gettid); }
