#!/usr/bin/env python3
"""Builds intake's demo corpus: harmless emails and portal uploads that cover
every ingress rule. Nothing here is malware: the EICAR test string, a PE and an
ELF built byte by byte that only return/exit, scripts that only echo, images,
logs and Prefetch headers written out by hand, and a small zip bomb of zeros.

The outputs are committed; rerun this only to change the corpus, then
regenerate the golden reports (see README, "The demo corpus").

Tools used, none of them intake's: Python's email package, `zip` (Info-ZIP,
ZipCrypto), `7z` (WinZip AES-256), pyzipper (AES-128/192/256).
"""
import email.policy
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pyzipper

HERE = os.path.dirname(os.path.abspath(__file__))
EMAIL = os.path.join(HERE, "email")
PORTAL = os.path.join(HERE, "portal")
MTIME = 1_700_000_000

EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def pe64():
    """A minimal PE32+ console image whose only code is `ret`."""
    dos = bytearray(0x40)
    dos[0:2] = b"MZ"
    struct.pack_into("<I", dos, 0x3C, 0x40)
    coff = struct.pack("<4sHHIIIHH", b"PE\0\0", 0x8664, 1, 0x65000000, 0, 0, 0xF0, 0x22)
    opt = struct.pack(
        "<HBBIIIIIQIIHHHHHHIIIIHHQQQQII",
        0x20B, 14, 0, 0x200, 0, 0, 0x1000, 0x1000, 0x140000000, 0x1000, 0x200,
        6, 0, 0, 0, 6, 0, 0, 0x2000, 0x200, 0, 3, 0x8160,
        0x100000, 0x1000, 0x100000, 0x1000, 0, 16,
    ) + bytes(16 * 8)
    sect = struct.pack("<8sIIIIIIHHI", b".text", 1, 0x1000, 0x200, 0x200, 0, 0, 0, 0, 0x60000020)
    head = bytes(dos) + coff + opt + sect
    head += bytes(0x200 - len(head))
    return head + b"\xc3" + bytes(0x1FF)


def elf64():
    """A minimal x86-64 ELF that calls exit(0)."""
    code = b"\xb8\x3c\x00\x00\x00\x31\xff\x0f\x05"  # mov eax,60; xor edi,edi; syscall
    base = 0x400000
    ehdr_size, phdr_size = 64, 56
    entry = base + ehdr_size + phdr_size
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, entry, ehdr_size, 0, 0, ehdr_size, phdr_size, 1, 0, 0, 0)
    total = ehdr_size + phdr_size + len(code)
    phdr = struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, total, total, 0x1000)
    return ehdr + phdr + code


def png(width=4, height=3):
    """A tiny grey PNG, like a cropped screenshot."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffdb004300") + bytes(64) + b"\xff\xd9"

SCRIPT_BAT = b"@echo off\r\necho This harmless demo script only prints a line.\r\n"
SCRIPT_SH = b"#!/bin/sh\necho 'harmless demo: nothing to see here'\n"
SCRIPT_PS1 = b"Write-Host 'harmless demo'\n$env:TEMP | Out-Null\n"

VSE_LOG = (
    "3/10/2025\t10:05:55 AM\tBlocked by On-Access Scan\tNT AUTHORITY\\SYSTEM\tC:\\Windows\\explorer.exe\t"
    "C:\\Users\\bob\\Downloads\\invoice.exe\tArtemis!4F3A1B2C3D4E (Trojan)\r\n"
    "3/10/2025\t10:05:56 AM\tDeleted\tNT AUTHORITY\\SYSTEM\tC:\\Users\\bob\\Downloads\\invoice.exe\r\n"
).encode()
DEFENDER_LOG = (
    "MpCmdRun: Command Line: \"C:\\Program Files\\Windows Defender\\MpCmdRun.exe\" -Scan -ScanType 1\r\n"
    " Start Time: Mon Mar 10 2025 10:22:41\r\n\r\nStarting QuickScan...\r\nScan starting...\r\nScan finished.\r\n"
    "Scanning found 1 threats.\r\n"
).encode("utf-16")  # Defender writes UTF-16 with a BOM
HJT_LOG = (
    b"Logfile of Trend Micro HijackThis v2.0.5\r\nScan saved at 10:00:00, on 3/10/2025\r\n"
    b"R0 - HKCU\\Software\\Microsoft\\Internet Explorer\\Main,Start Page = http://example.invalid/\r\n"
    b"O4 - HKLM\\..\\Run: [Updater] C:\\Users\\bob\\AppData\\updater.exe\r\n"
)
PREFETCH = struct.pack("<I4sI", 30, b"SCCA", 0x11) + b"EVIL.EXE".ljust(60, b"\0") + bytes(64)
PREFETCH_MAM = b"MAM\x04" + struct.pack("<I", 4096) + bytes(24)

TEMPLATE_EN = """Hello lab,

Please analyse the attached files.

Grant Number: 4321-0001
File List:
dropper.exe - found in C:\\Users\\bob\\AppData\\Local\\Temp
payload.elf - found in /tmp on the build server
run.bat - scheduled task "Updater"
Symptoms: pop-ups, browser home page changed, CPU at 100%
Detected: Yes
Security Product Vendor: Microsoft
Product Name: Defender Antivirus
Version: 4.18.25010
Detection Name: Trojan:Win32/Wacatac.B!ml
McAfee Product Name: Endpoint Security
Engine Version: 6700.10107
DAT Version: 5390.0
Operating System: Windows 10 Pro 22H2
Service Pack: none
System Details: Dell Latitude, 16 GB RAM

Thanks,
Bob
"""

TEMPLATE_ZH_PARTIAL = """您好，

授权号：8888-2026
文件列表：
样本.exe —— 在 C:\\ProgramData 中发现
症状：电脑变慢，弹出广告
是否检测到：否
迈克菲产品名称：VirusScan Enterprise
引擎版本：5800.7501
操作系统：Windows 7 旗舰版
服务包：SP1

谢谢
"""

HTML_TABLE_BIG5 = """<html><body><p>您好，請分析附件。</p>
<table>
<tr><td>授權號</td><td>7777-0007</td></tr>
<tr><td>檔案列表</td><td>tool.exe (C:\\Temp)</td></tr>
<tr><td>症狀</td><td>檔案被加密</td></tr>
<tr><td>是否偵測到</td><td>否</td></tr>
<tr><td>邁克菲產品名稱</td><td>Endpoint Security</td></tr>
<tr><td>引擎版本</td><td>6700</td></tr>
<tr><td>DAT 版本</td><td>5400.0</td></tr>
<tr><td>作業系統</td><td>Windows 11</td></tr>
</table></body></html>
"""


def zipcrypto(files, password=b"infected"):
    """A ZipCrypto zip made by Info-ZIP's `zip -P`."""
    with tempfile.TemporaryDirectory() as d:
        names = []
        for name, data in files:
            p = os.path.join(d, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
            os.utime(p, (MTIME, MTIME))
            names.append(name)
        out = os.path.join(d, "out.zip")
        cmd = ["zip", "-q", "-X", "-D"] + (["-P", password.decode()] if password else []) + [out] + names
        subprocess.run(cmd, cwd=d, check=True)
        return open(out, "rb").read()


def sevenzip_aes(files):
    """A WinZip AES-256 zip made by 7-Zip."""
    with tempfile.TemporaryDirectory() as d:
        for name, data in files:
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        out = os.path.join(d, "out.zip")
        subprocess.run(["7z", "a", "-bd", "-bso0", "-tzip", "-pinfected", "-mem=AES256", out]
                       + [n for n, _ in files], cwd=d, check=True)
        return open(out, "rb").read()


def pyzipper_aes(files, bits=128, password=b"infected", compression=pyzipper.ZIP_DEFLATED):
    """WinZip AES (128/192/256) with arbitrary entry names, via pyzipper."""
    buf = io.BytesIO()
    with pyzipper.AESZipFile(buf, "w", compression=compression, encryption=pyzipper.WZ_AES) as z:
        z.setpassword(password)
        z.setencryption(pyzipper.WZ_AES, nbits=bits)
        for name, data in files:
            info = z.zipinfo_cls(name, date_time=(2025, 3, 10, 10, 0, 0))
            info.compress_type = compression
            z.writestr(info, data)
    return buf.getvalue()


def plain_zip(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(zipfile.ZipInfo(name, date_time=(2025, 3, 10, 10, 0, 0)), data)
    return buf.getvalue()


def ooxml():
    """A bare OOXML package: what a .docx looks like to a zip reader."""
    return plain_zip([
        ("[Content_Types].xml", b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'),
        ("word/document.xml", b"<w:document/>"),
    ])


def symlink_zipcrypto():
    """A ZipCrypto wrapper holding a symlink (stored as a link with `zip -y`)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "readme.sh"), "wb") as f:
            f.write(SCRIPT_SH)
        os.symlink("/etc/passwd", os.path.join(d, "passwd-link"))
        out = os.path.join(d, "out.zip")
        subprocess.run(["zip", "-q", "-X", "-y", "-P", "infected", out, "readme.sh", "passwd-link"], cwd=d, check=True)
        return open(out, "rb").read()


def bomb():
    """50 MiB of zeros, bzip2-compressed to a few hundred bytes, in a wrapper."""
    zeros = bytes(50 << 20)
    return pyzipper_aes([("zeros.bin", zeros)], bits=256, compression=pyzipper.ZIP_BZIP2)


def message(subject, sender, msgid, body, attachments=(), html=None, charset="utf-8", alternative=False):
    outer = MIMEMultipart("mixed", boundary="=_intake_demo_outer")
    outer["From"] = sender
    outer["To"] = "samples@lab.example"
    outer["Subject"] = Header(subject, "utf-8") if not subject.isascii() else subject
    outer["Date"] = "Mon, 10 Mar 2025 10:00:00 +0000"
    outer["Message-ID"] = msgid
    if alternative:
        alt = MIMEMultipart("alternative", boundary="=_intake_demo_alt")
        alt.attach(MIMEText(body, "plain", charset))
        alt.attach(MIMEText(html, "html", charset))
        outer.attach(alt)
    elif html is not None:
        outer.attach(MIMEText(html, "html", charset))
    elif body is not None:
        outer.attach(MIMEText(body, "plain", charset))
    for a in attachments:
        outer.attach(a)
    return outer


def attach(name, data, mime="application/octet-stream", rfc2231=False, rfc2047=False):
    maintype, subtype = mime.split("/")
    part = MIMEBase(maintype, subtype)
    part.set_payload(data)
    from email import encoders
    encoders.encode_base64(part)
    if rfc2047:
        encoded = Header(name, "utf-8").encode()
        part["Content-Disposition"] = f'attachment; filename="{encoded}"'
    elif rfc2231:
        part.add_header("Content-Disposition", "attachment", filename=("utf-8", "", name))
    else:
        part.add_header("Content-Disposition", "attachment", filename=name)
    return part


def write_email(name, msg):
    path = os.path.join(EMAIL, name)
    data = msg.as_bytes(policy=email.policy.compat32.clone(linesep="\r\n")) if not isinstance(msg, bytes) else msg
    with open(path, "wb") as f:
        f.write(data)


def write_portal(name, metadata, files, links=()):
    d = os.path.join(PORTAL, name)
    os.makedirs(d, exist_ok=True)
    if metadata is not None:
        with open(os.path.join(d, "metadata.json"), "w", encoding="utf-8") as f:
            json.dump(metadata, f, ensure_ascii=False, indent=2)
            f.write("\n")
    for fname, data in files:
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    for fname, target in links:
        os.symlink(target, os.path.join(d, fname))


def main():
    for d in (EMAIL, PORTAL):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    pe, elf = pe64(), elf64()

    write_email("01-accepted-zipcrypto.eml", message(
        "Suspicious files from ACME", "Bob Builder <bob@acme.example>", "<demo-01@acme.example>", TEMPLATE_EN,
        [attach("samples.zip", zipcrypto([("dropper.exe", pe), ("payload.elf", elf), ("run.bat", SCRIPT_BAT), ("eicar.com", EICAR)]), "application/zip")]))

    write_email("02-needs-info-gbk-aes256.eml", message(
        "可疑文件", "Li Wei <li.wei@example.cn>", "<demo-02@example.cn>", TEMPLATE_ZH_PARTIAL,
        [attach("样本.zip", sevenzip_aes([("sample.exe", pe), ("notes.txt", b"Found next to the sample.\n")]), "application/zip", rfc2231=True)],
        charset="gbk"))

    write_email("03-html-table-big5-aes128.eml", message(
        "樣本", "chen@example.tw", "<demo-03@example.tw>", None,
        [attach("tool.zip", pyzipper_aes([("tool.exe", pe)], bits=128), "application/zip")],
        html=HTML_TABLE_BIG5, charset="big5"))

    write_email("04-rejections.eml", message(
        "Logs and screenshots", "carol@acme.example", "<demo-04@acme.example>", TEMPLATE_EN,
        [attach("screen.png", png(), "image/png"),
         attach("OnAccessScanLog.txt", VSE_LOG, "text/plain"),
         attach("plain.zip", plain_zip([("dropper.exe", pe)]), "application/zip"),
         attach("secret.zip", zipcrypto([("dropper.exe", pe)], password=b"virus"), "application/zip"),
         attach("broken.zip", b"PK\x03\x04" + b"\x14\x00" + bytes(40), "application/zip"),
         attach("dropper.exe", pe),
         attach("empty.bin", b""),
         attach("photo.jpg", JPEG, "image/jpeg")]))

    write_email("05-wrapper-with-unwanted.eml", message(
        "Everything I found", "dave@acme.example", "<demo-05@acme.example>", TEMPLATE_EN,
        [attach("all.zip", zipcrypto([
            ("dropper.exe", pe), ("screen.png", png()), ("OnAccessScanLog.txt", VSE_LOG),
            ("MPLog-20250310.log", DEFENDER_LOG), ("hijackthis.log", HJT_LOG),
            ("EVIL.EXE-1A2B3C4D.pf", PREFETCH), ("UPDATE.EXE-99887766.pf", PREFETCH_MAM),
            ("empty.txt", b""), ("harmless.sh", SCRIPT_SH)]), "application/zip")]))

    write_email("06-zip-bomb.eml", message(
        "big file", "eve@acme.example", "<demo-06@acme.example>", TEMPLATE_EN,
        [attach("bomb.zip", bomb(), "application/zip"),
         attach("ok.zip", pyzipper_aes([("run.bat", SCRIPT_BAT)], bits=192), "application/zip")]))

    write_email("07-traversal-and-links.eml", message(
        "names", "mallory@acme.example", "<demo-07@acme.example>", TEMPLATE_EN,
        [attach("../../etc/names.zip", pyzipper_aes([
            ("../../../../tmp/evil.sh", SCRIPT_SH), ("C:\\Windows\\System32\\drivers\\x.sys", pe),
            ("/abs/path/eicar.com", EICAR), ("dir/", b""), ("invoice\u202egpj.exe", pe),
            ("<img src=x onerror=alert(1)>.exe", pe)], bits=256), "application/zip"),
         attach("links.zip", symlink_zipcrypto(), "application/zip")]))

    depth4 = zipcrypto([("deepest.bat", SCRIPT_BAT)])
    depth3 = zipcrypto([("level3.sh", SCRIPT_SH), ("level4.zip", depth4)])
    depth2 = pyzipper_aes([("level2.exe", pe), ("level3.zip", depth3)], bits=256)
    write_email("08-nested-wrappers.eml", message(
        "nested", "frank@acme.example", "<demo-08@acme.example>", TEMPLATE_EN,
        [attach("level1.zip", zipcrypto([("level2.zip", depth2), ("plain-inside.zip", plain_zip([("a.txt", b"kept whole\n")])),
                                         ("report.docx", ooxml()), ("other-password.zip", zipcrypto([("x.bat", SCRIPT_BAT)], password=b"1234"))]),
                "application/zip")]))

    inner = message("Fwd: original", "grace@acme.example", "<demo-09-inner@acme.example>", "see attached\n",
                    [attach("fwd.zip", zipcrypto([("forwarded.exe", pe)]), "application/zip")])
    fwd = MIMEMessage(inner)
    write_email("09-forwarded-rfc822.eml", message(
        "Fwd: sample", "grace@acme.example", "<demo-09@acme.example>", TEMPLATE_EN, [fwd]))

    msg = message("=?utf-8?q?alternative?=", "heidi@acme.example", "<demo-10@acme.example>",
                  TEMPLATE_EN, [attach("恶意样本.zip", zipcrypto([("run.bat", SCRIPT_BAT)]), "application/zip", rfc2047=True)],
                  html="<p>" + TEMPLATE_EN.replace("\n", "<br>") + "</p>", alternative=True)
    write_email("10-alternative-rfc2047.eml", msg)

    write_email("11-no-attachment.eml", message(
        "question", "ivan@acme.example", "<demo-11@acme.example>", "Hello, my PC is slow. What should I do?\n"))

    write_email("12-hostile-attachment-names.eml", message(
        "names", "judy@acme.example", "<demo-12@acme.example>", TEMPLATE_EN,
        [attach("<script>alert('x')</script>.zip", zipcrypto([("a.ps1", SCRIPT_PS1)]), "application/zip"),
         attach("C:\\Users\\judy\\report\u202egpj.exe", pe)]))

    write_portal("01-accepted", {
        "grant_number": "4321-0001", "file_list": "dropper.exe (Temp), script.ps1 (Startup)",
        "symptoms": "unknown process", "detected": False, "product_name": "Endpoint Security",
        "engine_version": "6700.10107", "dat_version": "5390.0", "os": "Windows 11", "service_pack": None,
        "system_details": None, "sender": "portal-user@acme.example"},
        [("dropper.exe", pe), ("script.ps1", SCRIPT_PS1), ("wrapped.zip", zipcrypto([("payload.elf", elf)]))])

    write_portal("02-mixed", {"grant_number": 99, "detected": True, "detection_vendor": "ESET", "os": "Windows 10"},
                 [("screen.png", png()), ("archive.zip", plain_zip([("a.exe", pe)])), ("empty.dat", b""),
                  ("eicar.com", EICAR), ("MPLog-20250310.log", DEFENDER_LOG), ("wrong.zip", zipcrypto([("x.exe", pe)], password=b"nope"))],
                 links=[("passwd", "/etc/passwd")])

    write_portal("03-no-metadata", None, [("tool.exe", pe)])


if __name__ == "__main__":
    sys.exit(main())
