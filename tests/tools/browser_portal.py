"""Drives the portal in headless Chromium (Debian's, through Playwright):
sign-up, the mailed confirmation link, sign-in, a new SR, an upload with a
hostile file name, the result and the SR page, in one language. Takes a
screenshot of each page and checks each for its expected words; any
JavaScript dialog fails the run (a file name that ran as HTML would open
one).

usage: browser_portal.py BASE EMAIL PASSWORD GRANT LANG SHOTS_DIR SAMPLE_FILE
After signing up it waits (up to a minute) for the file SHOTS_DIR/LANG-link
holding the path of the mailed confirmation link, which the test writes.
Prints one JSON object: the SR number and the screenshots taken.
"""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

import chromium

HOSTILE = "<img src=x onerror=alert(1)>.exe"

WORDS = {
    "en": {
        "sign_up": "Create an account",
        "check_mail": "Check your mail",
        "confirmed": "Address confirmed",
        "new_sr": "New service request",
        "upload": "Upload samples",
        "result": "Samples",
        "sr": "Files",
        "update_files": "Files sent",
    },
    "zh": {
        "sign_up": "创建账户",
        "check_mail": "请查收邮件",
        "confirmed": "邮箱地址已确认",
        "new_sr": "新建服务请求",
        "upload": "上传样本",
        "result": "样本",
        "sr": "文件",
        "update_files": "提交的文件",
    },
}


def main():
    base, email, password, grant, lang, shots, sample = sys.argv[1:8]
    words = WORDS[lang]
    dialogs = []
    taken = []
    os.makedirs(shots, exist_ok=True)
    with sync_playwright() as p:
        browser = chromium.launch(p)
        accept = "zh-CN,zh;q=0.9" if lang == "zh" else "en-GB,en;q=0.9"
        ctx = browser.new_context(locale=accept.split(",")[0], extra_http_headers={"Accept-Language": accept})
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

        def shot(name, expect):
            body = page.inner_text("body")
            if expect not in body:
                raise SystemExit(f"{name}: {expect!r} not on the page {page.url}:\n{body}\n{page.content()[:1500]}")
            path = os.path.join(shots, f"{lang}-{name}.png")
            page.screenshot(path=path, full_page=True)
            taken.append(path)

        page.goto(f"{base}/portal/sign-up?lang={lang}")
        shot("sign-up", words["sign_up"])
        page.fill("input[name=name]", "Bob <b>Builder</b>")
        page.fill("input[name=email]", email)
        page.fill("input[name=grant_number]", grant)
        page.select_option("select[name=lang]", lang)
        page.fill("input[name=password]", password)
        page.click("form[action='/portal/sign-up'] button[type=submit]")
        page.wait_for_load_state()
        shot("check-mail", words["check_mail"])

        link_file = os.path.join(shots, f"{lang}-link")
        deadline = time.monotonic() + 60
        while not os.path.exists(link_file):
            if time.monotonic() > deadline:
                raise SystemExit("no confirmation link came")
            time.sleep(0.1)
        with open(link_file) as f:
            link = f.read().strip()
        page.goto(f"{base}{link}")
        page.fill("input[name=password]", password)
        page.click("form[action='/portal/confirm'] button[type=submit]")
        page.wait_for_load_state()
        shot("confirmed", words["confirmed"])

        page.goto(f"{base}/portal/sign-in?lang={lang}")
        page.fill("input[name=email]", email)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        page.wait_for_load_state()

        page.goto(f"{base}/portal/srs/new")
        shot("new-sr", words["new_sr"])
        page.fill("input[name=title]", "Pop-ups on every machine")
        page.check("input[name=severity][value='3']")
        page.fill("textarea[name=description]", "Since Monday.")
        page.click("form[action='/portal/srs/new'] button[type=submit]")
        page.wait_for_load_state()
        number = page.url.rstrip("/").split("/")[-1]
        if not number.startswith("SR-"):
            raise SystemExit(f"no SR page after the new SR: {page.url}")

        page.goto(f"{base}/portal/srs/{number}/files")
        shot("upload", words["upload"])
        with open(sample, "rb") as f:
            data = f.read()
        page.set_input_files(
            "input[type=file]",
            files=[{"name": HOSTILE, "mimeType": "application/octet-stream", "buffer": data}],
        )
        page.fill("textarea[name=symptoms]", "pop-ups")
        page.click("form[enctype='multipart/form-data'] button[type=submit]")
        page.wait_for_load_state()
        shot("uploaded", words["result"])
        if HOSTILE not in page.inner_text("body"):
            raise SystemExit("the hostile name is not shown as text")
        if page.locator("img[src=x]").count() != 0:
            raise SystemExit("the hostile name became an element")

        page.goto(f"{base}/portal/srs/{number}")
        shot("sr", words["sr"])
        if HOSTILE not in page.inner_text("body"):
            raise SystemExit("the SR page does not list the file by its name")
        # The upload is an update of its own: it says which files it sent
        # (without them it would read as an empty entry).
        upload = page.locator("article.update.in", has_text=words["update_files"])
        if upload.count() != 1 or HOSTILE not in upload.inner_text():
            raise SystemExit("the upload's update does not name its file")
        browser.close()
    if dialogs:
        raise SystemExit(f"a dialog opened: {dialogs}")
    print(json.dumps({"sr": number, "screenshots": taken}))


if __name__ == "__main__":
    main()
