#!/usr/bin/env bash
# make bench: wall time and peak RSS of (a) the function, (b) a no-op KRM function on
# the same SDK/kyaml stack, (b') that no-op on the function's output, (c) a bare
# go-yaml v3 node round trip, on generated ResourceLists of 100, 1,000 and 10,000
# items and on the prometheus-community fixture. Runs are alternated (a, b, b', c,
# a, ...) and the median is reported; instruction counts (callgrind) follow when
# valgrind is there. Public tools only: time(1), valgrind and Go's own toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-7}"
SIZES="${SIZES:-100 1000 10000}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for b in fn:./fn noop:./bench/noop yamlrt:./bench/yamlrt gen:./bench/gen; do
  CGO_ENABLED=0 go build -trimpath -o "$work/${b%%:*}" "${b#*:}"
done
for n in $SIZES; do "$work/gen" -n "$n" > "$work/in-$n.yaml"; done
# The prometheus-community chart output as a ResourceList.
fixture=../shared/fixtures/helm-prometheus.yaml
if [ -f "$fixture" ]; then
  go run ./bench/wrap < "$fixture" > "$work/in-helm.yaml"
  SETS="$SIZES helm"
else
  SETS="$SIZES"
fi

# measure TOOL INPUT -> "seconds kilobytes": wall time from bash's microsecond
# clock (time(1) rounds to 10 ms, too coarse for the small lists), peak RSS from
# time(1).
measure() {
  local t0=$EPOCHREALTIME
  /usr/bin/time -f "%M" -o "$work/t" "$work/$1" < "$2" > /dev/null || true
  local t1=$EPOCHREALTIME
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b-a }') $(cat "$work/t")"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The function's output is larger than its input (the sidecar, the job, the
# results): the no-op run on that output ("noop out") is the floor for printing
# it, and the ratio a/out shows the function's own cost above that floor.
tools="fn noop noopout yamlrt"
printf '%-6s %9s | %8s %8s %8s %8s | %7s %7s %7s %7s | %5s %5s %5s\n' items bytes "fn s" "noop s" "out s" "yaml s" "fn MB" "noop MB" "out MB" "yaml MB" "t a/b" "a/out" "m a/b"
declare -A T P
for set in $SETS; do
  in="$work/in-$set.yaml"
  "$work/fn" < "$in" > "$work/out-$set.yaml"
  for tool in $tools; do : > "$work/$tool.t"; done
  for _ in $(seq "$RUNS"); do
    measure fn "$in" >> "$work/fn.t"
    measure noop "$in" >> "$work/noop.t"
    measure noop "$work/out-$set.yaml" >> "$work/noopout.t"
    measure yamlrt "$in" >> "$work/yamlrt.t"
  done
  for tool in $tools; do
    T[$set.$tool.s]=$(cut -d' ' -f1 "$work/$tool.t" | median)
    T[$set.$tool.kb]=$(cut -d' ' -f2 "$work/$tool.t" | median)
  done
  awk -v n="$set" -v bytes="$(wc -c < "$in")" \
      -v a="${T[$set.fn.s]}" -v b="${T[$set.noop.s]}" -v o="${T[$set.noopout.s]}" -v c="${T[$set.yamlrt.s]}" \
      -v am="${T[$set.fn.kb]}" -v bm="${T[$set.noop.kb]}" -v om="${T[$set.noopout.kb]}" -v cm="${T[$set.yamlrt.kb]}" \
      'BEGIN { printf "%-6s %9d | %8.4f %8.4f %8.4f %8.4f | %7.1f %7.1f %7.1f %7.1f | %5.2f %5.2f %5.2f\n", n, bytes, a, b, o, c, am/1024, bm/1024, om/1024, cm/1024, (b>0?a/b:0), (o>0?a/o:0), (bm>0?am/bm:0) }'
done
prev=""
for n in $SIZES; do
  if [ -n "$prev" ]; then
    awk -v p="$prev" -v n="$n" -v a="${T[$prev.fn.s]}" -v b="${T[$n.fn.s]}" -v c="${T[$prev.noop.s]}" -v d="${T[$n.noop.s]}" \
      'BEGIN { printf "growth %s -> %s items: fn x%.1f, noop x%.1f\n", p, n, (a>0?b/a:0), (c>0?d/c:0) }'
  fi
  prev=$n
done

# Wall time on a small input is mostly start-up and varies by 10% from run to
# run on a shared machine; instruction counts (valgrind's callgrind, user space
# only) do not. Counted once each, on the inputs under 100 KB (callgrind runs ~50x
# slower), on one P without async preemption (callgrind serialises threads, and trips on
# Go's preemption signals).
if command -v valgrind >/dev/null; then
  # valgrind 3.19 lacks RDTSCP, which the Go runtime uses now and then under lock
  # contention: such a run dies of SIGILL and is repeated.
  count() {
    local out
    for _ in 1 2 3 4 5; do
      if out=$(GOMAXPROCS=1 GODEBUG=asyncpreemptoff=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$work/$1" < "$2" 2>&1 >/dev/null); then
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p' <<< "$out"
        return
      fi
    done
    echo 0
  }
  for set in $SETS; do
    [ "$(wc -c < "$work/in-$set.yaml")" -lt 100000 ] || continue
    a=$(count fn "$work/in-$set.yaml"); b=$(count noop "$work/in-$set.yaml"); o=$(count noop "$work/out-$set.yaml")
    awk -v n="$set" -v a="$a" -v b="$b" -v o="$o" 'BEGIN { printf "instructions %-6s fn %.1fM, noop %.1fM, noop out %.1fM: a/b %.2f, a/out %.2f\n", n, a/1e6, b/1e6, o/1e6, a/b, a/o }'
  done
fi
# Post-render on the kube-prometheus-stack render (5 MB, 123 objects with CRDs):
# this post-render, the one of BASELINE (a git revision: before post-render parsed
# only what matters; built from a worktree, offline), and cat, the floor.
kps=../shared/fixtures/kube-prometheus-stack.yaml
BASELINE="${BASELINE:-5fac324}"
if [ -f "$kps" ] && git cat-file -e "$BASELINE^{commit}" 2>/dev/null; then
  git worktree add -q --detach "$work/baseline" "$BASELINE"
  (cd "$work/baseline" && CGO_ENABLED=0 go build -trimpath -o "$work/fnbase" ./fn)
  git worktree remove --force "$work/baseline"
  printf 'post-render < %s (%d bytes): this, %s, cat\n' "$(basename "$kps")" "$(wc -c < "$kps")" "$BASELINE"
  prmeasure() {
    local t0=$EPOCHREALTIME
    /usr/bin/time -f "%M" -o "$work/t" "$@" < "$kps" > /dev/null
    local t1=$EPOCHREALTIME
    echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b-a }') $(cat "$work/t")"
  }
  : > "$work/pr.t"; : > "$work/prbase.t"; : > "$work/cat.t"
  for _ in $(seq "$RUNS"); do
    prmeasure "$work/fn" post-render >> "$work/pr.t"
    prmeasure "$work/fnbase" post-render >> "$work/prbase.t"
    prmeasure cat >> "$work/cat.t"
  done
  for x in pr prbase cat; do
    P[$x.s]=$(cut -d' ' -f1 "$work/$x.t" | median)
    P[$x.kb]=$(cut -d' ' -f2 "$work/$x.t" | median)
  done
  awk -v a="${P[pr.s]}" -v b="${P[prbase.s]}" -v c="${P[cat.s]}" -v am="${P[pr.kb]}" -v bm="${P[prbase.kb]}" -v cm="${P[cat.kb]}" \
    'BEGIN { printf "post-render: %.3f s %.0f MB | baseline %.3f s %.0f MB | cat %.4f s %.0f MB | this/baseline time %.2f, RSS %.2f\n", a, am/1024, b, bm/1024, c, cm/1024, a/b, am/bm }'
fi
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), runs: $RUNS (median)"
