#!/usr/bin/env bash
# `tarn serve` under load, on 127.0.0.1: CLIENTS psycopg clients x QUERIES statements each (parameterised counts
# whose answers are checked, and every 25th a CTAS, a count of it and a DROP ... PURGE), while 4 clients send random
# bytes and 4 close their socket in the middle of a large result. Prints requests/s, p50/p99 latency, errors, wrong
# answers, the server's peak memory, and whether the history holds every statement.
#
#   cargo build --release && benches/serve.sh
#   CLIENTS=8 QUERIES=50 benches/serve.sh
set -euo pipefail
TARN=${TARN:-${CARGO_TARGET_DIR:-target}/release/tarn}
CLIENTS=${CLIENTS:-32}
QUERIES=${QUERIES:-200}
ROWS=${ROWS:-100000}
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$dir"' EXIT
export TARN_WAREHOUSE="$dir/wh"

mkdir -p "$dir/data"
python3 - "$dir/data/orders.csv" "$ROWS" <<'PY'
import sys
path, rows = sys.argv[1], int(sys.argv[2])
with open(path, "w") as out:
    out.write("id,state,amount\n")
    for i in range(rows):
        out.write(f"{i},{['CA', 'NY', 'WY', 'TX'][i % 4]},{i % 500}.{i % 100:02d}\n")
PY
"$TARN" -q -c "CREATE EXTERNAL TABLE orders (id bigint, state string, amount decimal(10,2)) ROW FORMAT DELIMITED \
  FIELDS TERMINATED BY ',' LOCATION '$dir/data/' TBLPROPERTIES ('skip.header.line.count'='1')"
password=$(head -c 18 /dev/urandom | base64)
hash=$(printf '%s\n' "$password" | "$TARN" passwd)
printf '[users.loader]\npassword = "%s"\nrole = "read-write"\n' "$hash" > "$dir/users.toml"

"$TARN" serve --pg 127.0.0.1:0 --users "$dir/users.toml" --max-connections $((CLIENTS + 16)) \
  > "$dir/server.out" 2> "$dir/server.err" &
server=$!
for _ in $(seq 100); do grep -q postgres:// "$dir/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's|postgres://127.0.0.1:\([0-9]*\)/.*|\1|p' "$dir/server.out")
each=$((ROWS / 4))
python3 "$here/serve_load.py" --port "$port" --user loader --password "$password" \
  --expected "{\"CA\": $each, \"NY\": $each, \"WY\": $each, \"TX\": $each}" \
  --clients "$CLIENTS" --queries "$QUERIES" | tee "$dir/report.json"
peak=$(grep VmHWM "/proc/$server/status" | awk '{print $2}')
alive=$(kill -0 "$server" 2>/dev/null && echo yes || echo no)
sleep 1
statements=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['statements'])" "$dir/report.json")
recorded=$("$TARN" -q --format csv -c "SELECT count(*) FROM tarn.queries WHERE status = 'SUCCEEDED' AND query NOT LIKE 'SELECT a.id%'" | tail -1)
echo "server alive after the load: $alive; peak memory: $((peak / 1024)) MiB; statements answered: $statements, recorded as succeeded: $recorded"
