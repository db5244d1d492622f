#!/bin/bash
# How fast `footprint serve` folds a backlog into the derived data (BENCHMARKS.md, "Processing a
# bulk-imported store"): bulk-imports FILE into a fresh data directory, serves it, and prints the
# processing watermark every 2 s until it reaches the last event, then the server's CPU time.
# usage: bench/fold.sh FILE [BINARY]    (BINARY: target/release/footprint)
set -euo pipefail
file=$1
bin=${2:-target/release/footprint}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
env FOOTPRINT_DATA_DIR="$dir" FOOTPRINT_CONSENT_DEFAULT=grant RUST_LOG=warn "$bin" import "$file" >/dev/null 2>&1
query() { python3 -c "import sqlite3,sys; r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone(); print(r[0] if r and r[0] is not None else 0)" "$@"; }
last=$(query "$dir/footprint.db" "SELECT max(seq) FROM events")
env FOOTPRINT_DATA_DIR="$dir" FOOTPRINT_CONSENT_DEFAULT=grant RUST_LOG=warn PORT=0 "$bin" serve >/dev/null 2>&1 &
pid=$!
start=$(date +%s.%N)
while true; do
    sleep 2
    watermark=$(query "$dir/footprint-derived.db" "SELECT watermark FROM processor_state" 2>/dev/null || echo 0)
    echo "t=$(echo "$(date +%s.%N) - $start" | bc) s  watermark=$watermark of $last  rss=$(ps -o rss= -p $pid) KB"
    [ "$watermark" -ge "$last" ] && break
done
echo "server CPU time: $(awk '{print ($14 + $15) / 100}' /proc/$pid/stat) s"
kill $pid
wait $pid 2>/dev/null || true
