#!/usr/bin/env bash
# lanmesh quick start: install what is missing (Debian 12), build, then either
#   run  [--group.key=value ...]   start a node with config/caf-application.conf
#   test [ctest args ...]          run every test
#   build                          only build
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
shift || true

packages=(g++ make cmake libcaf-dev libboost-dev libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
          libsodium-dev libgtest-dev libgmock-dev python3 python3-matplotlib iproute2 nftables
          dpkg-dev debootstrap curl clang libclang-rt-14-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "quickstart: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >&2
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" >&2

case "$mode" in
  run) exec build/lanmesh "$@" ;;
  test) cd build && exec ctest -j"$(nproc)" --output-on-failure --timeout 300 "$@" ;;
  build) ;;
  *) echo "usage: $0 run|test|build" >&2; exit 2 ;;
esac
