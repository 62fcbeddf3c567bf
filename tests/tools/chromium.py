"""Debian's Chromium as the browser tests start it: headless, as root, and
without the background connections this machine's closed network refuses."""

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):
    return playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)


def staff_page(browser, base, email, password, path):
    """A page signed in as staff and opened at `path` (sent to sign in
    first, as anyone without a session is); the dialogs it opened are
    collected in `page.dialogs`."""
    page = browser.new_page(extra_http_headers={"Accept-Language": "en"})
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    page.goto(f"{base}{path}")
    if not page.url.endswith("/triage/sign-in"):
        raise SystemExit(f"not sent to sign in: {page.url}")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form[action='/triage/sign-in'] button[type=submit]")
    page.wait_for_load_state()
    if not page.url.endswith(path):
        page.goto(f"{base}{path}")
    return page
