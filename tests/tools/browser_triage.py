"""Signs in as staff in headless Chromium (Debian's, through Playwright),
opens the most urgent queue, checks that its first line is the SR given as
soonest due and that it is marked breached, and takes a screenshot.

usage: browser_triage.py BASE EMAIL PASSWORD FIRST_SR SCREENSHOT
"""

import sys

from playwright.sync_api import sync_playwright

import chromium


def main():
    base, email, password, first, shot = sys.argv[1:6]
    with sync_playwright() as p:
        browser = chromium.launch(p)
        page = chromium.staff_page(browser, base, email, password, "/triage/")
        if "Most urgent" not in page.inner_text("h1"):
            raise SystemExit(f"no queue after signing in: {page.url}\n{page.content()[:2000]}")
        first_row = page.locator("table.queue tbody tr").first
        cells = first_row.inner_text()
        if first not in cells:
            raise SystemExit(f"{first} is not first: {cells}")
        if "breached" not in (first_row.get_attribute("class") or ""):
            raise SystemExit(f"{first} is not marked breached: {first_row.inner_html()}")
        page.screenshot(path=shot, full_page=True)
        browser.close()
    if page.dialogs:
        raise SystemExit(f"a dialog opened: {page.dialogs}")
    print("ok")


if __name__ == "__main__":
    main()
