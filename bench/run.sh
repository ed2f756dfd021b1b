#!/usr/bin/env bash
# make bench: wall time and peak RSS of (a) the function, (b) a no-op KRM function on
# the same SDK/kyaml stack, (c) a bare go-yaml v3 node round trip, on generated
# ResourceLists of 100, 1,000 and 10,000 items and on the prometheus-community
# fixture. Runs are alternated (a, b, c, a, b, c, ...) and the median is reported.
# Public tools only: /usr/bin/time -v and Go's own toolchain.
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

# measure TOOL INPUT -> "seconds kilobytes"
measure() {
  /usr/bin/time -f "%e %M" -o "$work/t" "$work/$1" < "$2" > /dev/null
  cat "$work/t"
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

printf '%-6s %9s | %10s %10s %10s | %9s %9s %9s | %6s %6s\n' items bytes "fn s" "noop s" "yaml s" "fn MB" "noop MB" "yaml MB" "t a/b" "m a/b"
declare -A T
for set in $SETS; do
  in="$work/in-$set.yaml"
  : > "$work/fn.t"; : > "$work/noop.t"; : > "$work/yamlrt.t"
  for _ in $(seq "$RUNS"); do
    for tool in fn noop yamlrt; do measure "$tool" "$in" >> "$work/$tool.t"; done
  done
  for tool in fn noop yamlrt; do
    T[$set.$tool.s]=$(cut -d' ' -f1 "$work/$tool.t" | median)
    T[$set.$tool.kb]=$(cut -d' ' -f2 "$work/$tool.t" | median)
  done
  awk -v n="$set" -v bytes="$(wc -c < "$in")" \
      -v a="${T[$set.fn.s]}" -v b="${T[$set.noop.s]}" -v c="${T[$set.yamlrt.s]}" \
      -v am="${T[$set.fn.kb]}" -v bm="${T[$set.noop.kb]}" -v cm="${T[$set.yamlrt.kb]}" \
      'BEGIN { printf "%-6s %9d | %10.3f %10.3f %10.3f | %9.1f %9.1f %9.1f | %6.2f %6.2f\n", n, bytes, a, b, c, am/1024, bm/1024, cm/1024, (b>0?a/b:0), (bm>0?am/bm:0) }'
done
prev=""
for n in $SIZES; do
  if [ -n "$prev" ]; then
    awk -v p="$prev" -v n="$n" -v a="${T[$prev.fn.s]}" -v b="${T[$n.fn.s]}" -v c="${T[$prev.noop.s]}" -v d="${T[$n.noop.s]}" \
      'BEGIN { printf "growth %s -> %s items: fn x%.1f, noop x%.1f\n", p, n, (a>0?b/a:0), (c>0?d/c:0) }'
  fi
  prev=$n
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(go version | cut -d' ' -f3), runs: $RUNS (median)"
