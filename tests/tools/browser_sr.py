"""Signs in as staff in headless Chromium (Debian's, through Playwright),
opens an SR whose sample name and symptoms are hostile markup, checks that
they show as text and that no dialog opens, records a malicious verdict for
the sample through the page's form, and takes screenshots of the SR page
before and after.

usage: browser_sr.py BASE EMAIL PASSWORD SR SHA256 SHOT_BEFORE SHOT_AFTER
"""

import sys

from playwright.sync_api import sync_playwright

import chromium

NAME = "<script>alert(1)</script>.exe"
SYMPTOM = "<img src=x onerror=alert(2)>"


def main():
    base, email, password, sr, sha256, before, after = sys.argv[1:8]
    with sync_playwright() as p:
        browser = chromium.launch(p)
        page = chromium.staff_page(browser, base, email, password, f"/triage/sr/{sr}")
        if sr not in page.inner_text("h1"):
            raise SystemExit(f"not the SR page: {page.url}\n{page.content()[:2000]}")
        text = page.inner_text("body")
        if NAME not in text:
            raise SystemExit(f"the sample's name is not shown as text:\n{text[:3000]}")
        if SYMPTOM not in text:
            raise SystemExit(f"the symptoms are not shown as text:\n{text[:3000]}")
        if page.locator("script").count() or page.locator("img[src=x]").count():
            raise SystemExit("the customer's markup became elements")
        page.screenshot(path=before, full_page=True)
        form = page.locator(f"article.sample form:has(input[name=sha256][value='{sha256}']):has(select[name=verdict])")
        form.locator("select[name=verdict]").select_option("malicious")
        form.locator("input[name=detection]").fill("Trojan.Test-XSS")
        form.locator("button[type=submit]").click()
        page.wait_for_load_state()
        verdict = page.locator("article.sample td.verdict").first.inner_text()
        if "malicious" not in verdict or "Trojan.Test-XSS" not in verdict:
            raise SystemExit(f"the verdict is not shown: {verdict!r}\n{page.content()[:3000]}")
        page.screenshot(path=after, full_page=True)
        browser.close()
    if page.dialogs:
        raise SystemExit(f"a dialog opened: {page.dialogs}")
    print("ok")


if __name__ == "__main__":
    main()
