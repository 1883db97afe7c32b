"""HTML forms as a browser without JavaScript reads and submits them (standard library only, so
scripts/load/oauth_seed.py can use it without the harnesses' virtualenv).

Nothing about field names is assumed beyond what HTML says: the password field is the one of type
password, the email field the one of type email (or named like it), every other named field is
sent back with its value (the CSRF token among them), and on consent the submit button that
approves (or denies) by its words.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

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


def submission(form: Form, email: str, password: str, deny: bool = False) -> tuple[str, dict[str, str]]:
    """The fields a person would send with `form` ("sign-in" or "consent"), and which it is."""
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
        kind = "sign-in"
        for item in form.inputs:
            input_type, name = item.get("type", "text").lower(), item.get("name", "")
            if input_type == "password":
                fields[name] = password
            elif input_type == "email" or name.lower() in ("email", "username", "login"):
                fields[name] = email
        button = next(iter(form.buttons), None)
    else:
        kind = "consent"
        words = DENY_WORDS if deny else APPROVE_WORDS
        button = next((b for b in form.buttons if button_says(b, words)), None)
        if button is None:
            raise AssertionError(f"no button to {'deny' if deny else 'approve'} among {form.buttons}")
    if button is not None and button.get("name"):
        fields[button["name"]] = button.get("value", "")
    return kind, fields
