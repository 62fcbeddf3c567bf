#!/usr/bin/env python3
"""Speed of the staff queues with 100,000 open SRs and 1,000,000 samples,
against the bare queue query run by `pgbench` in the same run:

  - the most-urgent page (HTML, signed in) and its JSON (API token), first
    page and a page deep in the queue (after 50,000 lines), each under 8
    concurrent clients for DURATION seconds with `wrk` (Debian);
  - the same first and deep page's bare SQL with `pgbench -c 8`;
  - one scheduler pass (`intake triage pass`) with 1,000 SRs due;
  - `EXPLAIN (ANALYZE, BUFFERS)` of each queue's query.

Usage: python3 bench/triage_speed.py [--duration S] [--keep]
Needs PostgreSQL and RabbitMQ running (as the tests do) and builds intake
--release. The data lives in the database `intake_bench_triage`, made
afresh each run (`--keep` leaves it and skips making it again).
"""
import argparse
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INTAKE = os.path.join(ROOT, "target", "release", "intake")
DB = "intake_bench_triage"
PG = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-X", "-q"]
NOW = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
PORT = 18093
PASSWORD = "Bench-Analyst-2026"

BARE = {
    "urgent": "SELECT sr.id, sr.sr_number, sr.severity, sr.tier, sr.status, sr.channel, g.company, "
    "a.email, sr.next_due, sr.clock_paused_at IS NOT NULL, sr.opened_at FROM service_requests sr "
    "LEFT JOIN grants g ON g.grant_number = sr.grant_number LEFT JOIN accounts a ON a.id = sr.assignee_id "
    "WHERE sr.status <> 'closed' {cond} {after} ORDER BY sr.next_due, sr.id LIMIT 50",
}
QUEUES = {
    "urgent": "",
    "sev1": "AND sr.severity = 1",
    "unverified": "AND sr.status = 'unverified'",
    "needs_info": "AND sr.status = 'needs_info'",
    "dead": "AND sr.id IN (SELECT s.sr_id FROM analysis_jobs j JOIN submissions s "
    "ON s.id = j.submission_id WHERE j.state = 'dead')",
}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def env():
    e = dict(os.environ)
    e.update({
        "INTAKE_DATABASE_URL": f"postgres://postgres@127.0.0.1/{DB}",
        "INTAKE_DATABASE_CONNECTIONS": "16",
        "INTAKE_QUEUE_PREFIX": "bench_triage",
        "INTAKE_LISTEN": f"127.0.0.1:{PORT}",
        "INTAKE_SMTP_LISTEN": "127.0.0.1:0",
        "INTAKE_LMTP_LISTEN": "127.0.0.1:0",
        "INTAKE_PUBLIC_URL": f"http://127.0.0.1:{PORT}",
        "INTAKE_BLOB_DIR": os.path.join(tempfile.gettempdir(), "intake-bench-triage-blobs"),
        "RUST_LOG": "warn",
    })
    return e


def make_data():
    sh(PG + ["-c", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"])
    sh(PG + ["-c", f"CREATE DATABASE {DB}"])
    sh([INTAKE, "migrate"], env=env())
    t = time.time()
    sh(PG + ["-d", DB, "-v", f"now='{NOW}'", "-f", os.path.join(ROOT, "bench", "triage_data.sql")])
    print(f"data made in {time.time() - t:.0f} s")
    subprocess.run([INTAKE, "staff", "add", "ana@lab.example", "--name", "Ana"], input=PASSWORD + "\n",
                   text=True, check=True, env=env(), capture_output=True)


def token():
    return sh([INTAKE, "staff", "token", "ana@lab.example", "--name", "bench"], env=env()).stdout.strip()


def sign_in():
    c = http.client.HTTPConnection("127.0.0.1", PORT)
    c.request("GET", "/triage/sign-in")
    r = c.getresponse()
    page = r.read().decode()
    cookies = [h.split(";")[0] for k, h in r.getheaders() if k.lower() == "set-cookie"]
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf": csrf, "email": "ana@lab.example", "password": PASSWORD})
    c.request("POST", "/triage/sign-in", body, {"Cookie": "; ".join(cookies),
                                                 "Content-Type": "application/x-www-form-urlencoded"})
    r = c.getresponse()
    r.read()
    cookies += [h.split(";")[0] for k, h in r.getheaders() if k.lower() == "set-cookie"]
    return "; ".join(cookies)


def deep_key():
    out = sh(PG + ["-d", DB, "-At", "-c",
                   "SELECT to_char(next_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || 'Z,' || id "
                   "FROM service_requests WHERE status <> 'closed' ORDER BY next_due, id OFFSET 50000 LIMIT 1"]).stdout
    return out.strip()


def wrk(path, header, duration):
    # One request first: the page's counts for a view are computed once and
    # then shared (refreshed in the background every 5 s); what is measured
    # is a warm server, as staff meet it.
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    name, value = header.split(": ", 1)
    c.request("GET", path, headers={name: value})
    c.getresponse().read()
    out = sh(["wrk", "-t2", "-c8", f"-d{duration}s", "--latency", "-H", header,
              f"http://127.0.0.1:{PORT}{path}"]).stdout
    def ms(label):
        m = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"p50": ms("50%"), "p99": ms("99%"), "rps": rps, "errors": int(non2xx.group(1)) if non2xx else 0}


def pgbench(sql, duration):
    d = tempfile.mkdtemp()
    f = os.path.join(d, "q.sql")
    open(f, "w").write(sql + ";\n")
    sh(["pgbench", "-h", "127.0.0.1", "-U", "postgres", "-n", "-c8", "-j2", f"-T{duration}", "-f", f,
        "-l", "--log-prefix", os.path.join(d, "log"), DB])
    lat = []
    for name in os.listdir(d):
        if name.startswith("log"):
            lat += [int(line.split()[2]) / 1000 for line in open(os.path.join(d, name))]
    shutil.rmtree(d)
    lat.sort()
    return {"p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99)], "rps": len(lat) / duration,
            "errors": 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True)
    sh(["cargo", "build", "--release", "--locked", "--bin", "intake"], cwd=ROOT)
    exists = sh(PG + ["-At", "-c", f"SELECT count(*) FROM pg_database WHERE datname = '{DB}'"]).stdout.strip()
    if not (a.keep and exists == "1"):
        make_data()
    tok = token()
    # The clock first (before `serve` runs its own): one pass over the
    # 100,000 open SRs, 1,000 of them due.
    passed = sh([INTAKE, "triage", "pass"], env=env()).stdout.strip() if not a.keep else "(skipped with --keep)"
    serve = subprocess.Popen([INTAKE, "serve"], env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
                c.request("GET", "/triage/sign-in")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        cookie = sign_in()
        key = deep_key()
        after = urllib.parse.quote(key, safe="")
        rows = []
        for label, path, header in [
            ("page, first", "/triage/", f"Cookie: {cookie}"),
            ("page, deep", f"/triage/?queue=urgent&after={after}", f"Cookie: {cookie}"),
            ("JSON, first", "/api/v1/triage/queues/urgent", f"Authorization: Bearer {tok}"),
            ("JSON, deep", f"/api/v1/triage/queues/urgent?after={after}", f"Authorization: Bearer {tok}"),
        ]:
            rows.append((label, wrk(path, header, a.duration)))
        due, id_ = key.rsplit(",", 1)
        deep_sql = BARE["urgent"].format(cond="", after=f"AND (sr.next_due, sr.id) > ('{due}', {id_})")
        first_sql = BARE["urgent"].format(cond="", after="")
        rows.append(("bare SQL, first", pgbench(first_sql, a.duration)))
        rows.append(("bare SQL, deep", pgbench(deep_sql, a.duration)))
    finally:
        serve.terminate()
        serve.wait()
    print(f"\n100,000 open SRs, 1,000,000 samples; 8 clients, {a.duration} s each\n")
    print(f"{'':<18} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8} {'errors':>7}")
    for label, r in rows:
        print(f"{label:<18} {r['p50']:>8.2f} {r['p99']:>8.2f} {r['rps']:>8.0f} {r['errors']:>7}")
    base = dict(rows)
    for what, bare in [("page, first", "bare SQL, first"), ("page, deep", "bare SQL, deep"),
                       ("JSON, first", "bare SQL, first"), ("JSON, deep", "bare SQL, deep")]:
        print(f"{what}: p99 {base[what]['p99'] / base[bare]['p99']:.1f}x the bare query's")
    print("\nscheduler pass:", passed)
    print("\nEXPLAIN (ANALYZE, BUFFERS) of each queue's first page:")
    for name, cond in QUEUES.items():
        sql = BARE["urgent"].format(cond=cond, after="")
        plan = sh(PG + ["-d", DB, "-At", "-c", f"EXPLAIN (ANALYZE, BUFFERS) {sql}"]).stdout
        print(f"\n-- {name}\n{plan}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
