#pragma once
// One reading of the kernel's TCP_INFO, kept apart: <linux/tcp.h> and
// <netinet/tcp.h> cannot share a translation unit.

#include <cstdint>

namespace lanmesh::net {

/// Out-of-order segments received on `fd` so far (TCP_INFO tcpi_rcv_ooopack),
/// or 0 when the kernel does not say.
std::uint32_t out_of_order_segments(int fd);

} // namespace lanmesh::net
