#!/usr/bin/env python3
"""Speed of `intake check` on large wrappers, against baselines run on the same
inputs in the same run:

  - `unzip -P infected -p W.zip | sha256sum`   (Info-ZIP)
  - `7z x -pinfected -so W.zip | sha256sum`     (7-Zip)
  - bench/baseline_check.py W.eml               (Python email + pyzipper + hashlib)

Inputs (made once under bench-data/): two ~50 MB emails whose wrapper holds
eight files, half random bytes and half text — one wrapper made with
`zip -P infected` (ZipCrypto), one with `7z -mem=AES256` (WinZip AES-256).

Usage: python3 bench/check_speed.py [--runs N]   (builds intake --release first)
Prints a table of median wall times, MB/s of the message, the ratios, and
intake's peak RSS against the message size (`/usr/bin/time -v`).
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "bench-data")
INTAKE = os.path.join(ROOT, "target", "release", "intake")

WORDS = ("the lab sample process registry key value found under temp folder service driver "
         "scheduled task network connection download payload loader persistence startup user "
         "system file hash detection engine update version report customer analysis").split()


def make_files():
    rng = random.Random(20261128)
    files = []
    for i in range(4):
        files.append((f"random{i}.bin", rng.randbytes(6 << 20)))
    for i in range(4):
        lines = []
        size = 0
        while size < (12 << 20):
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 16))) + f" {rng.randint(0, 10**9)}\n"
            lines.append(line)
            size += len(line)
        files.append((f"text{i}.log.txt", "".join(lines).encode()))
    return files


def make_inputs():
    os.makedirs(DATA, exist_ok=True)
    done = os.path.join(DATA, ".done")
    if os.path.exists(done):
        return
    files = make_files()
    src = os.path.join(DATA, "src")
    os.makedirs(src, exist_ok=True)
    for name, data in files:
        with open(os.path.join(src, name), "wb") as f:
            f.write(data)
    names = [n for n, _ in files]
    for z in ("zipcrypto.zip", "aes256.zip"):
        p = os.path.join(DATA, z)
        if os.path.exists(p):
            os.remove(p)
    subprocess.run(["zip", "-q", "-P", "infected", os.path.join(DATA, "zipcrypto.zip")] + names, cwd=src, check=True)
    subprocess.run(["7z", "a", "-bd", "-bso0", "-tzip", "-pinfected", "-mem=AES256", os.path.join(DATA, "aes256.zip")] + names,
                   cwd=src, check=True)
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText
    for z in ("zipcrypto", "aes256"):
        msg = MIMEMultipart()
        msg["From"] = "bench@acme.example"
        msg["To"] = "samples@lab.example"
        msg["Subject"] = "benchmark"
        msg["Message-ID"] = f"<bench-{z}@acme.example>"
        msg.attach(MIMEText("Grant Number: 1\nFile List: eight files\nSymptoms: none\nDetected: no\n"
                            "McAfee Product Name: ENS\nEngine Version: 1\nDAT Version: 1\nOperating System: Linux\n"))
        att = MIMEApplication(open(os.path.join(DATA, z + ".zip"), "rb").read(), "zip")
        att.add_header("Content-Disposition", "attachment", filename=z + ".zip")
        msg.attach(att)
        with open(os.path.join(DATA, z + ".eml"), "wb") as f:
            f.write(msg.as_bytes())
    open(done, "w").close()


def timed(cmd, runs):
    """Median wall time, or None when the command fails (unzip has no WinZip AES)."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
        if r.returncode != 0:
            return None
    return statistics.median(times)


def peak_rss_kb(cmd):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=True)
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
    return -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "intake"], cwd=ROOT, check=True)
    make_inputs()
    print(f"runs per figure: {args.runs} (median)   machine: {os.cpu_count()} cores")
    for z in ("zipcrypto", "aes256"):
        eml = os.path.join(DATA, z + ".eml")
        wrap = os.path.join(DATA, z + ".zip")
        mb = os.path.getsize(eml) / 1e6
        rows = [
            ("intake check --json (email)", f"{INTAKE} check --json {eml}"),
            ("unzip -P infected -p | sha256sum", f"unzip -P infected -p {wrap} | sha256sum"),
            ("7z x -pinfected -so | sha256sum", f"7z x -pinfected -so {wrap} | sha256sum"),
            ("python email+pyzipper+hashlib", f"{sys.executable} {os.path.join(ROOT, 'bench', 'baseline_check.py')} {eml}"),
        ]
        results = [(label, timed(cmd, args.runs)) for label, cmd in rows]
        ours = results[0][1]
        print(f"\n{z}: message {mb:.1f} MB, wrapper {os.path.getsize(wrap) / 1e6:.1f} MB")
        print(f"  {'command':<36} {'median s':>9} {'MB/s':>8} {'intake is':>10}")
        for label, t in results:
            if t is None:
                print(f"  {label:<36} {'fails':>9} {'':>8} {'n/a':>10}  (cannot decrypt this wrapper)")
                continue
            ratio = t / ours
            print(f"  {label:<36} {t:>9.3f} {mb / t:>8.1f} {ratio:>9.2f}x")
        rss = peak_rss_kb([INTAKE, "check", "--json", eml])
        print(f"  intake peak RSS: {rss / 1024:.0f} MiB = {rss * 1024 / os.path.getsize(eml):.2f}x the message size")


if __name__ == "__main__":
    main()
