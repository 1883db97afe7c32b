"""A person at a browser without JavaScript, in plain HTTP: follows redirects within the issuer,
fills in the sign-in form, approves the consent form, and stops at the client's redirect URI.

Every form is read from the page the server rendered (all its fields, the CSRF token included)
and posted as a browser would post it, with the cookies the server set. Nothing about field names
is assumed beyond what HTML says: the password field is the one of type password, the email
field the one of type email (or named like it), and on consent the submit button that approves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2

APPROVE_WORDS = ("allow", "approve", "accept", "authorize", "authorise", "consent", "grant", "continue", "yes")
DENY_WORDS = ("deny", "cancel", "reject", "decline", "no")


@dataclass
class Form:
    action: str
    method: str
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)

    def has_password(self) -> bool:
        return any(i.get("type", "").lower() == "password" for i in self.inputs)


class FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.lang: str | None = None
        self.labels_for: set[str] = set()
        self._button: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
        elif tag == "label" and "for" in a:
            self.labels_for.add(a["for"])
        elif not self.forms:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind == "submit":
                self.forms[-1].buttons.append({**a, "text": a.get("value", "")})
            else:
                self.forms[-1].inputs.append(a)
        elif tag == "button":
            self._button = {**a, "text": ""}
            if a.get("type", "submit").lower() == "submit":
                self.forms[-1].buttons.append(self._button)

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._button = None


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def button_says(button: dict[str, str], words: tuple[str, ...]) -> bool:
    text = " ".join([button.get("text", ""), button.get("value", ""), button.get("name", "")]).lower()
    return any(word in text.split() or text.strip().startswith(word) for word in words)


@dataclass
class Redirect:
    """Where the authorization server sent the browser at last: the client's redirect URI."""

    url: str

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.url).query).items()}


@dataclass
class Visit:
    """What happened on the way, for the test's assertions."""

    pages: list[tuple[str, int, str]] = field(default_factory=list)  # (url, status, kind)
    sign_in_posts: int = 0
    consent_posts: int = 0


class Browserless:
    """A cookie-keeping HTTP user agent that signs in and consents like a person would."""

    def __init__(self, email: str, password: str, redirect_prefix: str, deny: bool = False):
        self.email = email
        self.password = password
        self.redirect_prefix = redirect_prefix
        self.deny = deny
        self.client = httpx2.AsyncClient(follow_redirects=False, timeout=30)
        self.visit = Visit()

    async def aclose(self) -> None:
        await self.client.aclose()

    async def authorize(self, url: str, max_steps: int = 12) -> Redirect:
        """Starts at the authorization URL and returns the redirect to the client."""
        method, data = "GET", None
        for _ in range(max_steps):
            if url.startswith(self.redirect_prefix):
                return Redirect(url)
            if method == "GET":
                response = await self.client.get(url)
            else:
                response = await self.client.post(url, data=data)
            if response.status_code in (301, 302, 303, 307, 308):
                self.visit.pages.append((url, response.status_code, "redirect"))
                url = urljoin(url, response.headers["location"])
                method, data = "GET", None
                continue
            body = response.text
            if response.status_code != 200 or "text/html" not in response.headers.get("content-type", ""):
                raise AssertionError(f"{method} {url} answered {response.status_code}: {body[:500]}")
            page = parse(body)
            forms = [f for f in page.forms if f.method == "post"]
            if not forms:
                raise AssertionError(f"{url}: a page with no form to submit: {body[:500]}")
            form = forms[0]
            fields: dict[str, str] = {}
            for item in form.inputs:
                name = item.get("name")
                if not name:
                    continue
                kind = item.get("type", "text").lower()
                if kind in ("checkbox", "radio") and "checked" not in item:
                    continue
                fields[name] = item.get("value", "")
            if form.has_password():
                self.visit.pages.append((url, 200, "sign-in"))
                self.visit.sign_in_posts += 1
                for item in form.inputs:
                    kind, name = item.get("type", "text").lower(), item.get("name", "")
                    if kind == "password":
                        fields[name] = self.password
                    elif kind == "email" or name.lower() in ("email", "username", "login"):
                        fields[name] = self.email
                button = next(iter(form.buttons), None)
            else:
                self.visit.pages.append((url, 200, "consent"))
                self.visit.consent_posts += 1
                words = DENY_WORDS if self.deny else APPROVE_WORDS
                button = next((b for b in form.buttons if button_says(b, words)), None)
                if button is None:
                    raise AssertionError(f"{url}: no button to {'deny' if self.deny else 'approve'} among {form.buttons}")
            if button is not None and button.get("name"):
                fields[button["name"]] = button.get("value", "")
            url = urljoin(url, form.action or url)
            method, data = "POST", fields
        raise AssertionError(f"no redirect to {self.redirect_prefix} after {max_steps} steps: {self.visit.pages}")
