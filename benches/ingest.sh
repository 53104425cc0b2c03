#!/usr/bin/env bash
# Ingest throughput: FILES small JSON-lines files (ROWS rows each, over PARTS day folders) loaded by one
# `tarn ingest --once` into a partitioned Parquet table, then moved to processed/. Prints files/s, rows/s and how
# many Parquet files the table got, then the same after OPTIMIZE.
#
#   cargo build --release && benches/ingest.sh                   # a local folder
#   FILES=5000 ROWS=20 BATCH=500 benches/ingest.sh
set -euo pipefail
TARN=${TARN:-${CARGO_TARGET_DIR:-target}/release/tarn}
FILES=${FILES:-1000}
ROWS=${ROWS:-100}
PARTS=${PARTS:-10}
BATCH=${BATCH:-1000}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export TARN_WAREHOUSE="$dir/wh"

python3 - "$dir/incoming" "$FILES" "$ROWS" "$PARTS" <<'EOF'
import json, os, sys
root, files, rows, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for f in range(files):
    folder = os.path.join(root, f"dt=2024-01-{1 + f % parts:02d}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"events-{f:06d}.json"), "w") as out:
        for r in range(rows):
            i = f * rows + r
            out.write(json.dumps({"id": i, "name": f"user {i}", "amount": i % 100 + 0.5}) + "\n")
EOF
bytes=$(du -sb "$dir/incoming" | cut -f1)

"$TARN" -q -c "CREATE EXTERNAL TABLE ev (id bigint, name string, amount double) PARTITIONED BY (dt string)
               STORED AS PARQUET LOCATION '$dir/lake/ev/'" 2>/dev/null
start=$(date +%s.%N)
"$TARN" ingest "$dir/incoming" --into ev --processed "$dir/processed" --settle 0s --once \
  --batch-files "$BATCH" --json > "$dir/report.json"
end=$(date +%s.%N)
parquet=$(find "$dir/lake" -name '*.parquet' | wc -l)
python3 - "$dir/report.json" "$start" "$end" "$bytes" "$parquet" "$PARTS" <<'EOF'
import json, sys
report = json.loads(open(sys.argv[1]).read().splitlines()[-1])
start, end, size, parquet, parts = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
files = sum(b["files"] for b in report["batches"])
rows = sum(b["rows"] for b in report["batches"])
took = end - start
print(f"ingest: {files} files, {rows} rows, {size / 1e6:.1f} MB in {took:.2f} s "
      f"= {files / took:.0f} files/s, {rows / took:.0f} rows/s; {len(report['batches'])} commits; "
      f"{parquet} Parquet files for {parts} partitions")
EOF
"$TARN" -q -c "SELECT count(*) AS rows, count(DISTINCT dt) AS partitions FROM ev"
start=$(date +%s.%N)
"$TARN" -c "OPTIMIZE ev"
end=$(date +%s.%N)
echo "OPTIMIZE: $(python3 -c "print(f'{$end - $start:.2f}')") s"
