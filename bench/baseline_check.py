#!/usr/bin/env python3
"""The Python baseline for `intake check`'s speed: the same job done with the
standard library's `email` parser, `pyzipper` (ZipCrypto and WinZip AES) and
`hashlib` — parse the message, unpack every `infected` wrapper attachment,
SHA-256 every file — printing one line per file."""
import email
import email.policy
import hashlib
import sys

import pyzipper


def main(path):
    with open(path, "rb") as f:
        msg = email.message_from_binary_file(f, policy=email.policy.default)
    for part in msg.iter_attachments():
        data = part.get_payload(decode=True) or b""
        name = part.get_filename() or "attachment"
        if data[:4] != b"PK\x03\x04":
            print(hashlib.sha256(data).hexdigest(), len(data), name)
            continue
        import io
        with pyzipper.AESZipFile(io.BytesIO(data)) as z:
            z.setpassword(b"infected")
            for info in z.infolist():
                if info.is_dir():
                    continue
                blob = z.read(info)
                print(hashlib.sha256(blob).hexdigest(), len(blob), f"{name}/{info.filename}")


if __name__ == "__main__":
    main(sys.argv[1])
