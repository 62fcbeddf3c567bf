#!/usr/bin/env python3
"""A real SMTP sink (aiosmtpd) for intake's tests and benchmarks: every
message it receives is written to DIR as NNNNNN.eml, envelope in NNNNNN.json.
With --discard it keeps nothing (the benchmark baseline)."""
import argparse, json, os, threading, time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, out):
        self.out, self.n, self.lock = out, 0, threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        if self.out:
            with self.lock:
                self.n += 1
                n = self.n
            base = os.path.join(self.out, f"{n:06d}")
            with open(base + ".tmp", "wb") as f:
                f.write(envelope.original_content)
            with open(base + ".json", "w") as f:
                json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
            os.rename(base + ".tmp", base + ".eml")
        return "250 OK"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir")
    ap.add_argument("--discard", action="store_true")
    a = ap.parse_args()
    if a.dir:
        os.makedirs(a.dir, exist_ok=True)
    c = Controller(Sink(None if a.discard else a.dir), hostname="127.0.0.1", port=a.port,
                   data_size_limit=0)
    c.start()
    print("ready", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        c.stop()


if __name__ == "__main__":
    main()
