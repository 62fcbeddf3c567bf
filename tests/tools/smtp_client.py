#!/usr/bin/env python3
"""Python's smtplib as a client of intake's listener, for the tests.

  send FILE        one message; prints {"ok", "code", "stage", "error"}
  concurrent FILE  N sessions at once, each a copy with its own Message-ID;
                   prints {"ok": count, "failed": [errors]}
"""
import argparse, concurrent.futures, json, re, smtplib, sys


def send(port, sender, rcpts, raw):
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            s.ehlo("client.test")
            s.sendmail(sender, rcpts, raw)
        return {"ok": True, "code": 250, "stage": "done", "error": ""}
    except smtplib.SMTPSenderRefused as e:
        return {"ok": False, "code": e.smtp_code, "stage": "mail", "error": e.smtp_error.decode()}
    except smtplib.SMTPRecipientsRefused as e:
        (code, msg), = e.recipients.values()
        return {"ok": False, "code": code, "stage": "rcpt", "error": msg.decode()}
    except smtplib.SMTPDataError as e:
        return {"ok": False, "code": e.smtp_code, "stage": "data", "error": e.smtp_error.decode()}
    except (OSError, smtplib.SMTPException) as e:
        return {"ok": False, "code": 0, "stage": "session", "error": repr(e)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["send", "concurrent"])
    ap.add_argument("file")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--sender", required=True)
    ap.add_argument("--to", action="append", required=True)
    ap.add_argument("--n", type=int, default=50)
    a = ap.parse_args()
    raw = open(a.file, "rb").read()
    if a.mode == "send":
        print(json.dumps(send(a.port, a.sender, a.to, raw)))
        return
    def one(i):
        copy = re.sub(rb"(?im)^Message-ID:.*$", b"Message-ID: <concurrent-%d@client.test>" % i, raw, count=1)
        return send(a.port, a.sender, a.to, copy)
    with concurrent.futures.ThreadPoolExecutor(max_workers=a.n) as ex:
        results = list(ex.map(one, range(a.n)))
    print(json.dumps({"ok": sum(r["ok"] for r in results),
                      "failed": [r for r in results if not r["ok"]]}))


if __name__ == "__main__":
    sys.exit(main())
