"""Sign-in and consent in headless Chromium (Debian's chromium + chromium-driver, Selenium).

A public client registered the way Claude Code registers (loopback redirect, `none`) sends the
browser to `/authorize`. The test checks each page as a person and an accessibility checker would
see it (document language, a label for every field, no tab order of its own, readable contrast,
the tenant's display name; on consent the client's name, the host of its redirect URI and the
"not verified" mark of a dynamically registered client), saves a screenshot of each, signs in and
approves with the keyboard and mouse, and lands on the client's loopback listener with a code,
which it exchanges at the token endpoint with the PKCE verifier.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

# WCAG 2.x contrast of text against the nearest opaque background, computed in the page.
CONTRAST_SCRIPT = """
function rgb(s) { const m = s.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
  const p = m[1].split(',').map(Number); return {r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1}; }
function lum(c) { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); }
function background(el) { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
  if (c && c.a >= 1) return c; } return {r: 255, g: 255, b: 255, a: 1}; }
const out = [];
for (const el of document.querySelectorAll('h1, h2, p, li, label, button, a, span, strong, input[type=submit]')) {
  const style = getComputedStyle(el);
  if (style.visibility === 'hidden' || style.display === 'none' || !el.getClientRects().length) continue;
  if (!(el.innerText || el.value || '').trim()) continue;
  const fg = rgb(style.color), bg = background(el), a = lum(fg) + 0.05, b = lum(bg) + 0.05;
  const size = parseFloat(style.fontSize), bold = parseInt(style.fontWeight) >= 700;
  const large = size >= 24 || (bold && size >= 18.66);
  out.push({tag: el.tagName, text: (el.innerText || el.value).trim().slice(0, 40),
            ratio: Math.max(a, b) / Math.min(a, b), needed: large ? 3 : 4.5});
}
return out;
"""

UNLABELLED_SCRIPT = """
const out = [];
for (const el of document.querySelectorAll('input, select, textarea')) {
  const type = (el.getAttribute('type') || 'text').toLowerCase();
  if (['hidden', 'submit', 'button', 'image', 'reset'].includes(type)) continue;
  const labelled = (el.labels && el.labels.length > 0) || el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
  if (!labelled) out.push(el.outerHTML.slice(0, 120));
}
return out;
"""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


class LoopbackListener:
    """The client's redirect: a one-path HTTP listener on 127.0.0.1 that keeps what it received."""

    def __init__(self) -> None:
        received: list[dict[str, str]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                if parts.path == "/callback":
                    received.append({k: v[0] for k, v in parse_qs(parts.query).items()})
                body = b"<!doctype html><html lang=en><title>Done</title><p>You can close this window.</p></html>"
                self.send_response(200 if parts.path == "/callback" else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "LoopbackListener":
        self.thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def new_driver() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1000,1100", "--lang=en-US", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def check_page_basics(driver: webdriver.Chrome, page: str, tenant_name: str) -> None:
    lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang") or ""
    check(lang.strip() != "", f"{page}: <html> has no lang")
    check(driver.title.strip() != "", f"{page}: no <title>")
    body_text = driver.find_element(By.TAG_NAME, "body").text
    check(tenant_name in body_text, f"{page}: the tenant's display name {tenant_name!r} is not shown")
    unlabelled = driver.execute_script(UNLABELLED_SCRIPT)
    check(not unlabelled, f"{page}: fields without a label: {unlabelled}")
    positive_tabindex = driver.find_elements(By.CSS_SELECTOR, "[tabindex]:not([tabindex='0']):not([tabindex^='-'])")
    check(not positive_tabindex, f"{page}: a tab order of its own (tabindex > 0) on {len(positive_tabindex)} elements")
    low = [c for c in driver.execute_script(CONTRAST_SCRIPT) if c["ratio"] < c["needed"]]
    check(not low, f"{page}: text below WCAG contrast: {low}")
    check(driver.find_elements(By.CSS_SELECTOR, "form[method='post' i]"), f"{page}: no POST form")
    scripts = driver.find_elements(By.TAG_NAME, "script")
    check(not scripts, f"{page}: the page carries scripts; it must work without JavaScript")


def run_browser_flow(env: Any, output_dir: Path) -> dict[str, Any]:
    output_dir.mkdir(parents=True, exist_ok=True)
    with LoopbackListener() as listener, httpx2.Client(timeout=30) as http:
        redirect_uri = f"http://127.0.0.1:{listener.port}/callback"
        client_name = "Claude Code (browser check)"
        registration = http.post(env.registration_endpoint, json={
            "client_name": client_name, "redirect_uris": [redirect_uri], "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"]})
        check(registration.status_code == 201, f"registration answered {registration.status_code}: {registration.text}")
        client_id = registration.json()["client_id"]

        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        state = secrets.token_urlsafe(16)
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri, "state": state,
                 "code_challenge": challenge, "code_challenge_method": "S256", "scope": "openid profile mcp:tools",
                 "resource": env.resource}
        authorize_url = f"{env.authorization_endpoint}?{urlencode(query)}"

        driver = new_driver()
        try:
            wait = WebDriverWait(driver, 20)
            driver.get(authorize_url)
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type='password']"))
            check_page_basics(driver, "sign-in", env.tenant_name)
            sign_in_url = driver.current_url
            check(sign_in_url.startswith(env.issuer + "/"), f"sign-in page at {sign_in_url}, not under {env.issuer}")
            driver.save_screenshot(str(output_dir / "sign-in.png"))

            email = driver.find_element(By.CSS_SELECTOR, "input[type='email'], input[name='email']")
            password = driver.find_element(By.CSS_SELECTOR, "input[type='password']")
            # Focus order: the email field comes before the password field from the keyboard.
            email.click()
            email.send_keys(env.email)
            driver.switch_to.active_element.send_keys(Keys.TAB)
            check(driver.switch_to.active_element == password, "sign-in: Tab from the email field does not reach the password")
            password.send_keys(env.password)
            password.send_keys(Keys.ENTER)  # submits the form as a person would

            wait.until(lambda d: "/callback" in d.current_url or not d.find_elements(By.CSS_SELECTOR, "input[type='password']"))
            check("/callback" not in driver.current_url, "consent was skipped for a client never consented to")
            check_page_basics(driver, "consent", env.tenant_name)
            consent_text = driver.find_element(By.TAG_NAME, "body").text
            check(client_name in consent_text, f"consent: the client's name {client_name!r} is not shown")
            check("127.0.0.1" in consent_text, "consent: the host of the redirect URI (127.0.0.1) is not shown")
            check("not verified" in consent_text.lower() or "unverified" in consent_text.lower(),
                  "consent: no 'not verified' mark for a dynamically registered client")
            driver.save_screenshot(str(output_dir / "consent.png"))

            buttons = driver.find_elements(By.CSS_SELECTOR, "form button, form input[type='submit']")
            approve = [b for b in buttons if any(w in (b.text or b.get_attribute("value") or "").lower()
                                                 for w in ("allow", "approve", "accept", "authori", "continue", "grant"))]
            check(len(approve) == 1, f"consent: expected one approving button, found {[b.text for b in buttons]}")
            approve[0].click()
            wait.until(lambda d: d.current_url.startswith(redirect_uri))
            landed = driver.current_url
            driver.save_screenshot(str(output_dir / "redirect.png"))
        finally:
            driver.quit()

        check(len(listener.received) == 1, f"the loopback listener got {len(listener.received)} requests")
        answer = listener.received[0]
        check("error" not in answer, f"the authorization response is an error: {answer}")
        check(answer.get("state") == state, f"state came back as {answer.get('state')!r}")
        check(answer.get("iss") == env.issuer, f"iss came back as {answer.get('iss')!r}")
        check(answer.get("code", "").startswith("ac_"), f"code {answer.get('code')!r} lacks the ac_ prefix")

        token = http.post(env.token_endpoint, data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect_uri,
            "client_id": client_id, "code_verifier": verifier, "resource": env.resource})
        check(token.status_code == 200, f"code exchange answered {token.status_code}: {token.text}")
        check(token.headers.get("cache-control", "").lower() == "no-store", "token response without no-store")
        body = token.json()
        check(body.get("token_type", "").lower() == "bearer" and body.get("access_token"), f"token response {body}")
        check("id_token" in body, "openid was granted but no id_token came back")
        # The same code a second time: refused (single use).
        again = http.post(env.token_endpoint, data={
            "grant_type": "authorization_code", "code": answer["code"], "redirect_uri": redirect_uri,
            "client_id": client_id, "code_verifier": verifier})
        check(again.status_code == 400 and again.json().get("error") == "invalid_grant",
              f"a second use of the code answered {again.status_code} {again.text}")
    return {"client_id": client_id, "landed": landed.split("?")[0],
            "screenshots": sorted(p.name for p in output_dir.glob("*.png"))}
