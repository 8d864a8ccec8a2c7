#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang++ with ASan and UBSan) and
# runs each for SECONDS (default 60) from its seed corpus (docs/fuzzing.md).
#
#   tools/fuzz.sh [--build DIR] [SECONDS [TARGET ...]]   run (all targets by default)
#   tools/fuzz.sh [--build DIR] --seeds                  rewrite tests/fuzz/corpus
#
# Targets: frame handshake announce config. Each run starts from a copy of
# tests/fuzz/corpus/TARGET in DIR/run/TARGET (the source tree is never
# written); what it learnt stays there. A crash, leak, timeout or broken
# property stops that target: the input is saved in DIR/crashes/TARGET and
# its path printed; the script goes on with the other targets, then exits 1.
# Exit 77: no clang++ with libFuzzer here (apt-get install clang
# libclang-rt-14-dev). DIR defaults to build/fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

build=build/fuzz
seeds=0
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build=$2; shift 2 ;;
    --seeds) seeds=1; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) break ;;
  esac
done
seconds=${1:-60}
shift || true
all_targets=(frame handshake announce config)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number, not $seconds" >&2; exit 2 ;;
esac
for t in "${targets[@]}"; do
  [[ " ${all_targets[*]} " == *" $t "* ]] || { echo "fuzz.sh: no target $t (${all_targets[*]})" >&2; exit 2; }
done

# clang++ that links libFuzzer, or skip.
cxx=""
for c in clang++ clang++-14 clang++-15 clang++-16; do
  command -v "$c" >/dev/null 2>&1 && { cxx=$(command -v "$c"); break; }
done
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
if [ -z "$cxx" ] || ! printf '%s\n' \
    'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' \
    | "$cxx" -x c++ -fsanitize=fuzzer,address,undefined -o "$probe/probe" - 2>/dev/null; then
  echo "fuzz.sh: skipped: no clang++ with libFuzzer (apt-get install clang libclang-rt-14-dev)" >&2
  exit 77
fi

mkdir -p "$build"
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S tests/fuzz -B "$build" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Fuzz >"$build/configure.log" 2>&1 ||
    { cat "$build/configure.log" >&2; exit 1; }
fi
if ! cmake --build "$build" -j"$(nproc)" >"$build/build.log" 2>&1; then
  cat "$build/build.log" >&2
  exit 1
fi

if [ "$seeds" -eq 1 ]; then
  for t in "${all_targets[@]}"; do rm -rf "tests/fuzz/corpus/$t"; done
  "$build/fuzz_seeds" tests/fuzz/corpus "$src"
  exit 0
fi

build=$(cd "$build" && pwd)
failed=0
printf '%-10s %9s %8s %6s %6s %7s  %s\n' target runs exec/s cov ft corpus result
for t in "${targets[@]}"; do
  work="$build/run/$t"
  crashes="$build/crashes/$t"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$crashes"
  cp tests/fuzz/corpus/"$t"/* "$work/corpus/"
  opts=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=1536 -error_exitcode=1
        -timeout_exitcode=1 -print_final_stats=1 -artifact_prefix="$crashes/")
  [ "$t" = config ] && opts+=(-dict="$src/tests/fuzz/corpus/config.dict")
  rc=0
  (cd "$work" && exec "$build/fuzz_$t" "${opts[@]}" corpus) >"$work/log" 2>&1 || rc=$?
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$work/log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$stats")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$stats")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$stats")
  if [ "$rc" -eq 0 ]; then
    result=ok
  else
    failed=1
    unit=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$work/log" | tail -1)
    result="FAILED (exit $rc): ${unit:-no input saved}; log $work/log"
  fi
  printf '%-10s %9s %8s %6s %6s %7s  %s\n' "$t" "${runs:-?}" "${speed:-?}" "${cov:-?}" \
    "${ft:-?}" "${corp:-?}" "$result"
  if [ "$rc" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|property broken|forbidden' "$work/log" | head -5 >&2 || true
    [ -n "${unit:-}" ] && echo "fuzz.sh: reproduce: $build/fuzz_$t $unit" >&2
  fi
done
exit "$failed"
