#include "net/tcp_info.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>

#include <cstddef>
#include <sys/socket.h>

namespace lanmesh::net {

std::uint32_t out_of_order_segments(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_rcv_ooopack) + sizeof(info.tcpi_rcv_ooopack))
    return 0;
  return info.tcpi_rcv_ooopack;
}

} // namespace lanmesh::net
