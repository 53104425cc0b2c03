"""Load on `tarn serve` over the PostgreSQL wire protocol, from clients on 127.0.0.1 only.

Each client connects with psycopg and runs its share of queries (grouped counts whose answers are known) and, every
`--ctas-every` queries, a CTAS of its own followed by a count of it and a DROP ... PURGE. Meanwhile other clients
send random bytes instead of the protocol, and others start a large result and close their socket halfway through.
Prints one JSON object: queries, errors, wrong answers, queries/s and latency percentiles.

    python3 serve_load.py --port 5432 --user loader --password ... --clients 32 --queries 200
"""

import argparse
import json
import os
import random
import socket
import statistics
import threading
import time

import psycopg


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--table", default="orders")
    p.add_argument("--expected", required=True, help="JSON: state -> count, the right answers")
    p.add_argument("--clients", type=int, default=32)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--ctas-every", type=int, default=25)
    p.add_argument("--garbage", type=int, default=4, help="clients sending random bytes")
    p.add_argument("--dropouts", type=int, default=4, help="clients closing their socket mid-result")
    a = p.parse_args()
    expected = json.loads(a.expected)
    states = sorted(expected)
    latencies, errors, wrong, statements = [], [], [], [0]
    lock = threading.Lock()

    def connect():
        return psycopg.connect(host="127.0.0.1", port=a.port, user=a.user, password=a.password,
                               dbname="default", autocommit=True, connect_timeout=30)

    def client(n):
        rng = random.Random(n)
        try:
            conn = connect()
        except Exception as e:
            with lock:
                errors.append(f"client {n} could not connect: {e}")
            return
        cur = conn.cursor()
        for i in range(a.queries):
            started = time.perf_counter()
            try:
                if a.ctas_every and i % a.ctas_every == a.ctas_every - 1:
                    name = f"load_{n}_{i}"
                    state = rng.choice(states)
                    cur.execute(f"CREATE TABLE {name} WITH (format = 'PARQUET') AS "
                                f"SELECT * FROM {a.table} WHERE state = '{state}'")
                    cur.execute(f"SELECT count(*) FROM {name}")
                    got = cur.fetchone()[0]
                    cur.execute(f"DROP TABLE {name} PURGE")
                    count = 3
                    if got != expected[state]:
                        with lock:
                            wrong.append(f"CTAS {name} of {state}: {got} rows, not {expected[state]}")
                else:
                    state = rng.choice(states)
                    cur.execute(f"SELECT count(*) FROM {a.table} WHERE state = %s", (state,))
                    got = cur.fetchone()[0]
                    count = 1
                    if got != expected[state]:
                        with lock:
                            wrong.append(f"{state}: {got}, not {expected[state]}")
                with lock:
                    latencies.append(time.perf_counter() - started)
                    statements[0] += count
            except Exception as e:
                with lock:
                    errors.append(f"client {n} query {i}: {e}")
        conn.close()

    def garbage(n):
        rng = random.Random(1000 + n)
        for _ in range(5):
            try:
                with socket.create_connection(("127.0.0.1", a.port), timeout=10) as s:
                    s.sendall(os.urandom(rng.randint(1, 4096)))
                    s.settimeout(2)
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
            except OSError:
                pass

    def dropout(n):
        # A raw protocol client: psycopg reads a whole result before returning, and this one must leave in the middle.
        def message(kind, body):
            return kind + (len(body) + 4).to_bytes(4, "big") + body

        for _ in range(3):
            try:
                with socket.create_connection(("127.0.0.1", a.port), timeout=30) as s:
                    params = b"user\0" + a.user.encode() + b"\0database\0default\0\0"
                    startup = (196608).to_bytes(4, "big") + params
                    s.sendall((len(startup) + 4).to_bytes(4, "big") + startup)
                    s.recv(1024)  # AuthenticationCleartextPassword
                    s.sendall(message(b"p", a.password.encode() + b"\0"))
                    seen = b""
                    while b"Z\0\0\0\x05" not in seen:  # ReadyForQuery
                        chunk = s.recv(4096)
                        if not chunk:
                            raise OSError("closed")
                        seen += chunk
                    s.sendall(message(b"Q", f"SELECT a.id, b.id FROM {a.table} a, {a.table} b".encode() + b"\0"))
                    got = 0
                    while got < 65536:
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        got += len(chunk)
                    # Closed here, with most of the result unsent.
            except OSError:
                pass

    threads = [threading.Thread(target=client, args=(n,)) for n in range(a.clients)]
    threads += [threading.Thread(target=garbage, args=(n,)) for n in range(a.garbage)]
    threads += [threading.Thread(target=dropout, args=(n,)) for n in range(a.dropouts)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(q):
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) if latencies else None

    print(json.dumps({
        "clients": a.clients,
        "requests": len(latencies),
        "statements": statements[0],
        "errors": errors[:20],
        "error_count": len(errors),
        "wrong": wrong[:20],
        "wrong_count": len(wrong),
        "seconds": round(elapsed, 2),
        "requests_per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
        "mean_ms": round(statistics.mean(latencies) * 1000, 1) if latencies else None,
    }))


if __name__ == "__main__":
    main()
