#!/usr/bin/env python3
"""Cross-checks the worker's analysers against tools no one here wrote, on the
same files: hashes against `md5sum`/`sha1sum`/`sha256sum`, ssdeep against the
`ssdeep` tool, TLSH against py-tlsh, YARA against the `yara` tool with the same
rules, and PE facts against Python's `pefile`.

Files: the demo corpus's constructed PE, ELF, scripts and EICAR, real Windows
launchers shipped inside Python packages (setuptools, distlib), text and random
data. Needs: Debian `ssdeep` and `yara`; PyPI `py-tlsh` and `pefile`.
Usage: python3 workers/crosscheck.py   (exits non-zero on any disagreement)
"""
import glob
import json
import os
import random
import subprocess
import sys
import tempfile

import pefile
import tlsh

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "workers", "rules")


def files(tmp):
    out = [os.path.join(ROOT, p) for p in (
        "samples/portal/01-accepted/dropper.exe", "samples/portal/01-accepted/script.ps1",
        "samples/portal/02-mixed/eicar.com", "README.md", "Cargo.lock")]
    import setuptools
    out += sorted(glob.glob(os.path.join(os.path.dirname(setuptools.__file__), "*.exe")))[:4]
    rng = random.Random(7)
    p = os.path.join(tmp, "random.bin")
    with open(p, "wb") as f:
        f.write(rng.randbytes(1 << 20))
    out.append(p)
    z = subprocess.run(["unzip", "-P", "infected", "-o", "-d", tmp,
                        os.path.join(ROOT, "samples/portal/01-accepted/wrapped.zip")], capture_output=True)
    if z.returncode == 0:
        out.append(os.path.join(tmp, "payload.elf"))
    return out


def tool(cmd):
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def main():
    subprocess.run(["cargo", "build", "--quiet", "-p", "intake-worker"], cwd=ROOT, check=True)
    worker = os.path.join(ROOT, "target", "debug", "intake-worker")
    failures, checks = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = files(tmp)
        out = tool([worker, "analyse"] + paths)
        results = [json.loads(l) for l in out.splitlines() if l.strip()]
        yara_rules = sorted(glob.glob(os.path.join(RULES, "*.yar")))
        for r, path in zip(results, paths):
            data = open(path, "rb").read()
            name = os.path.relpath(path, ROOT) if path.startswith(ROOT) else os.path.basename(path)

            def same(what, ours, theirs):
                nonlocal checks
                checks += 1
                if ours != theirs:
                    failures.append(f"{name}: {what}: intake {ours!r} != reference {theirs!r}")

            for algo in ("md5", "sha1", "sha256"):
                same(algo, r["hashes"][algo], tool([f"{algo}sum", path]).split()[0])
            ref = tool(["ssdeep", "-s", "-b", path]).splitlines()[-1].split(",")[0]
            same("ssdeep", r["similarity"]["ssdeep"], ref)
            t = tlsh.hash(data)
            same("tlsh", r["similarity"]["tlsh"], None if t in ("TNULL", "") else t)
            ref_rules = set()
            for rule_file in yara_rules:
                for line in tool(["yara", "-w", rule_file, path]).splitlines():
                    ref_rules.add(line.split()[0])
            same("yara", sorted(m["rule"] for m in r["yara"]["matches"]), sorted(ref_rules))
            if data[:2] == b"MZ":
                pe = pefile.PE(data=data)
                x = r["executable"]["executable"]
                same("pe.machine", x["machine"], pe.FILE_HEADER.Machine)
                same("pe.timestamp", x["timestamp"], pe.FILE_HEADER.TimeDateStamp)
                same("pe.sections", [s["name"] for s in x["sections"]],
                     [s.Name.rstrip(b"\0").decode(errors="replace") for s in pe.sections])
                imports = []
                for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
                    for imp in entry.imports:
                        if imp.name:
                            imports.append(f"{entry.dll.decode()}!{imp.name.decode()}")
                same("pe.imports", sorted(i for i in x["imports"] if "!" in i and not i.split("!")[1].startswith("ORDINAL")),
                     sorted(imports))
                sec = pe.OPTIONAL_HEADER.DATA_DIRECTORY[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_SECURITY"]]
                same("pe.signed", x["signed"], sec.Size > 0)
                same("pe.overlay", x["overlay_size"], len(pe.get_overlay() or b""))
    print(f"{checks - len(failures)} passed, {len(failures)} failed")
    for f in failures:
        print("  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
