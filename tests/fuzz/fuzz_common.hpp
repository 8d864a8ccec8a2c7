#pragma once
// What the fuzz targets share: a check that stops the run with a crash
// libFuzzer records, the cluster key the fuzzer must not be able to forge
// anything under, and a seccomp filter that makes opening a socket a crash.

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sodium.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#include <csignal>
#include <cstddef>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include <unistd.h>

#include "net/keyring.hpp"

namespace lanmesh::fuzz {

/// A property broken: print it and crash (libFuzzer saves the input).
[[noreturn]] inline void broken(const char* what, const char* file, int line) {
  std::fprintf(stderr, "fuzz property broken at %s:%d: %s\n", file, line, what);
  std::fflush(stderr);
  __builtin_trap();
}

#define FUZZ_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond))                                                                         \
      ::lanmesh::fuzz::broken(#cond, __FILE__, __LINE__);                                \
  } while (0)

/// The ids the seeds name (public, like any key id on the wire).
inline const net::key_id fuzz_key_id{'f', 'u', 'z', 'z', 'k', 'e', 'y', '1'};
inline const net::key_id other_key_id{'f', 'u', 'z', 'z', 'k', 'e', 'y', '2'};

/// Two keys of random bytes drawn at start (the fuzzer never sees them) under
/// fixed ids, so that seeds can name them: whatever the fuzzer gets
/// authenticated under them, it forged.
inline net::keyring_ptr secret_ring() {
  static const net::keyring_ptr ring = [] {
    if (!net::crypto_ready())
      std::abort();
    std::vector<net::cluster_key> keys(2);
    randombytes_buf(keys[0].bytes.data(), keys[0].bytes.size());
    randombytes_buf(keys[1].bytes.data(), keys[1].bytes.size());
    keys[0].id = fuzz_key_id;
    keys[1].id = other_key_id;
    return std::make_shared<const net::keyring>(std::move(keys));
  }();
  return ring;
}

/// Fuzzers never open sockets: from here on socket() and socketpair() raise
/// SIGSYS, which becomes a crash libFuzzer records (with the input).
inline void forbid_sockets() {
#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
  constexpr std::uint32_t arch = AUDIT_ARCH_X86_64;
#else
  constexpr std::uint32_t arch = AUDIT_ARCH_AARCH64;
#endif
  struct sigaction sa {};
  sa.sa_handler = [](int) {
    static const char msg[] = "fuzz target opened a socket: forbidden\n";
    (void)!::write(2, msg, sizeof(msg) - 1);
    __builtin_trap();
  };
  sigaction(SIGSYS, &sa, nullptr);
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socket, 2, 0),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_socketpair, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])),
                  filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
    std::perror("fuzz: seccomp");
    std::abort();
  }
#endif
}

/// Reads a fuzzer input as a little script: bytes, lengths, the rest.
class input {
public:
  input(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool empty() const { return off_ >= n_; }
  std::size_t left() const { return n_ - off_; }
  std::uint8_t u8() { return off_ < n_ ? p_[off_++] : 0; }
  std::uint16_t u16() {
    auto hi = u8();
    return static_cast<std::uint16_t>((hi << 8) | u8());
  }
  /// Up to `k` bytes (fewer at the end of the input).
  std::vector<std::uint8_t> take(std::size_t k) {
    k = k < left() ? k : left();
    std::vector<std::uint8_t> out(p_ + off_, p_ + off_ + k);
    off_ += k;
    return out;
  }
  std::vector<std::uint8_t> rest() { return take(left()); }

private:
  const std::uint8_t* p_;
  std::size_t n_;
  std::size_t off_ = 0;
};

} // namespace lanmesh::fuzz
