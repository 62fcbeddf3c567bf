#!/usr/bin/env python3
"""Analysis speed of intake-worker against sha256sum over the same bytes,
measured in the same run (issue: workers' speed).

  python3 bench/worker_speed.py [--large-mb 32] [--large 4] [--small 200]

Builds a corpus of harmless files (random bytes with embedded strings, PE and
ELF headers built here, scripts that only echo): a few large files and many
small ones. Then:

1. per core, in one process: `intake-worker analyse` (every analyser but the
   database look-up) over the large files, vs `sha256sum` over the same files;
2. end to end through RabbitMQ and PostgreSQL, the mix of small and large
   files: each file mailed in a ZipCrypto `infected` zip, taken in with
   `intake ingest-dir`, relayed by `intake serve`, analysed by 1 and then 2
   `intake-worker` processes; timed from the relay's start to the last
   provisional verdict.

Needs PostgreSQL and RabbitMQ on localhost, Info-ZIP `zip`, and release builds
(`cargo build --release --workspace`; the script runs it).
"""
import argparse, json, os, random, shutil, socket, subprocess, sys, tempfile, time
from email.message import EmailMessage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REL = os.path.join(ROOT, "target", "release")
PG = "postgres://postgres@127.0.0.1:5432"


def filler(rng, n):
    """Random bytes with text, URLs and e-mail addresses every few KB: what
    the strings analyser has to find in real samples."""
    out = bytearray()
    words = [b"http://update.example.net/a.php?id=", b"GetProcAddress", b"kernel32.dll",
             b"admin@mail.example.org", b"10.20.30.40", b"This program cannot be run in DOS mode"]
    while len(out) < n:
        out += rng.randbytes(rng.randint(1000, 6000))
        out += rng.choice(words) + str(rng.randint(0, 10**6)).encode() + b"\0"
    return bytes(out[:n])


def pe_header():
    dos = bytearray(64)
    dos[0:2] = b"MZ"
    dos[0x3C:0x40] = (64).to_bytes(4, "little")
    coff = b"PE\0\0" + (0x14C).to_bytes(2, "little") + (0).to_bytes(2, "little") + bytes(12) \
        + (0).to_bytes(2, "little") + (0x102).to_bytes(2, "little")
    return bytes(dos) + coff


def corpus(d, large, large_mb, small, rng):
    files = []
    for i in range(large):
        p = os.path.join(d, f"large-{i}.bin")
        head = pe_header() if i % 2 == 0 else b"\x7fELF\x02\x01\x01" + bytes(9)
        with open(p, "wb") as f:
            f.write(head + filler(rng, large_mb * 2**20 - len(head)))
        files.append(p)
    for i in range(small):
        p = os.path.join(d, f"small-{i}.bin")
        size = rng.randint(1, 64) * 1024
        kind = i % 3
        if kind == 0:
            data = filler(rng, size)
        elif kind == 1:
            data = pe_header() + filler(rng, size)
        else:
            data = (b"@echo off\r\necho harmless %d\r\n" % i) * (size // 30)
        with open(p, "wb") as f:
            f.write(data)
        files.append(p)
    return files


def timed(cmd, **kw):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t


def psql(db, sql):
    out = subprocess.run(["psql", f"{PG}/{db}", "-tAc", sql], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def end_to_end(files, workers, tmp, run_id):
    """Seconds from the relay's start to the last verdict, with `workers`
    worker processes, for every file of `files` mailed in a zip."""
    db = f"intake_bench_w{workers}_{run_id}"
    mails = os.path.join(tmp, f"mail-{workers}")
    os.makedirs(mails)
    files = sorted(files, key=lambda f: hash(f) % 1000)  # large files among small ones
    for i, f in enumerate(files):
        z = os.path.join(tmp, f"z-{workers}-{i}.zip")
        subprocess.run(["zip", "-q", "-j", "-P", "infected", z, f], check=True)
        m = EmailMessage()
        m["From"] = "bench@acme.example"
        m["To"] = "samples@localhost"
        m["Subject"] = f"bench {i}"
        m["Message-ID"] = f"<w{workers}-{i}-{run_id}@acme.example>"
        m.set_content("Grant Number: 4321-0001\nFile List: f\nSymptoms: none\nDetected: no\n"
                      "McAfee Product Name: ENS\nEngine Version: 6700\nDAT Version: 11000\n"
                      "Operating System: Windows 11\n")
        with open(z, "rb") as fz:
            m.add_attachment(fz.read(), maintype="application", subtype="zip", filename="s.zip")
        os.remove(z)
        with open(os.path.join(mails, f"{i:05d}.eml"), "wb") as fm:
            fm.write(bytes(m))
    env = dict(os.environ, INTAKE_DATABASE_URL=f"{PG}/{db}", INTAKE_QUEUE_PREFIX=db,
               INTAKE_BLOB_DIR=os.path.join(tmp, f"blobs-{workers}"), RUST_LOG="error",
               INTAKE_SMTP_LISTEN="", INTAKE_LMTP_LISTEN="",
               # One job at a time per worker: with the default prefetch (8)
               # one worker can hold every large file while the other idles.
               INTAKE_PREFETCH="1",
               INTAKE_LISTEN=f"127.0.0.1:{free_port()}")
    subprocess.run([os.path.join(REL, "intake"), "grants", "import",
                    os.path.join(ROOT, "samples", "grants.csv")], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([os.path.join(REL, "intake"), "ingest-dir", mails], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    n = int(psql(db, "SELECT count(*) FROM samples"))
    procs = []
    try:
        for w in range(workers):
            procs.append(subprocess.Popen(
                [os.path.join(REL, "intake-worker")],
                env=dict(env, INTAKE_WORKER_LISTEN=f"127.0.0.1:{free_port()}"),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(3)  # the workers connect and compile their rules: not timed
        t = time.perf_counter()
        procs.append(subprocess.Popen([os.path.join(REL, "intake"), "serve"], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = t + 1800
        while int(psql(db, "SELECT count(*) FROM verdicts")) < n:
            if time.perf_counter() > deadline:
                sys.exit(f"timed out: {psql(db, 'SELECT count(*) FROM verdicts')} of {n}")
            time.sleep(0.05)
        return time.perf_counter() - t, n
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()
        subprocess.run(["psql", f"{PG}/postgres", "-qc",
                        f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", type=int, default=4)
    ap.add_argument("--large-mb", type=int, default=32)
    ap.add_argument("--small", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--workspace", "--quiet"], cwd=ROOT, check=True)
    rng = random.Random(7)
    tmp = tempfile.mkdtemp(prefix="intake-worker-bench-")
    try:
        files = corpus(tmp, a.large, a.large_mb, a.small, rng)
        large = [f for f in files if "large-" in f]
        large_bytes = sum(os.path.getsize(f) for f in large)
        all_bytes = sum(os.path.getsize(f) for f in files)
        worker = os.path.join(REL, "intake-worker")

        def median(xs):
            return sorted(xs)[len(xs) // 2]

        # Warm the page cache, then alternate the two so drift hits both.
        timed(["cat"] + files)
        sha, ours, busy, each = [], [], [], []
        for _ in range(a.runs):
            sha.append(timed(["sha256sum"] + large))
            t = time.perf_counter()
            r = subprocess.run([worker, "analyse", "--time"] + large, check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            ours.append(time.perf_counter() - t)
            lines = r.stderr.strip().splitlines()
            at = next(i for i, l in enumerate(lines) if l.startswith("analysed "))
            busy.append(float(lines[at].split()[-2]))
            each.append({l.split()[0]: float(l.split()[1]) for l in lines[at + 1:]})
        mb = large_bytes / 1e6
        sha_rate, our_rate, busy_rate = mb / median(sha), mb / median(ours), mb / median(busy)
        print(f"large files ({a.large} x {a.large_mb} MiB), one core, median of {a.runs}:")
        print(f"  sha256sum                      {sha_rate:8.1f} MB/s")
        print(f"  intake-worker analyse, process {our_rate:8.1f} MB/s  = {100 * our_rate / sha_rate:.1f}% of sha256sum")
        print(f"  the analysers alone            {busy_rate:8.1f} MB/s  = {100 * busy_rate / sha_rate:.1f}% of sha256sum"
              "  (start-up and rule compiling excluded)")
        for name in each[0]:
            secs = median([e[name] for e in each])
            print(f"    {name:<28} {mb / secs:8.1f} MB/s  ({100 * secs / median(busy):.0f}% of the time)")

        sha_all = median([timed(["sha256sum"] + files) for _ in range(a.runs)])
        print(f"\nmix ({len(files)} files, {all_bytes / 1e6:.1f} MB) end to end (queue, database, findings):")
        print(f"  sha256sum                      {len(files) / sha_all:8.1f} files/s {all_bytes / 1e6 / sha_all:8.1f} MB/s")
        run_id = f"{os.getpid()}"
        for workers in (1, 2):
            secs, n = end_to_end(files, workers, tmp, run_id)
            print(f"  {workers} worker{'s' if workers > 1 else ' '}                      {n / secs:8.1f} files/s "
                  f"{all_bytes / 1e6 / secs:8.1f} MB/s  ({secs:.1f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
