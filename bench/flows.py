"""Get what the load needs from real requests: patient sessions with a step form and its CSRF
token, a signed-in clinician's cookie, and checks that each prepared request answers as it should.

Cookies are kept by hand (not httpx's jar) because production cookies are Secure and the benchmark
talks plain HTTP on loopback, as the service does behind a TLS-terminating proxy; every request says
so with X-Forwarded-Proto.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode, urljoin, urlsplit

import httpx

from bench.loadgen import PreparedRequest
from sdm_service.settings import HOST_COOKIE_PREFIX
from sdm_service.settings import PATIENT_COOKIE as PATIENT_COOKIE_NAME
from sdm_service.settings import SESSION_COOKIE as SESSION_COOKIE_NAME

PROXY_HEADERS = {"X-Forwarded-Proto": "https"}
QUESTIONNAIRE_START = "/q/iort-sdm"
# The benchmark serves with SDM_ENV=production, where cookie names carry the __Host- prefix.
PATIENT_COOKIE = HOST_COOKIE_PREFIX + PATIENT_COOKIE_NAME
SESSION_COOKIE = HOST_COOKIE_PREFIX + SESSION_COOKIE_NAME
CLINICIAN_SIGN_IN = "/clinician/sign-in"
CLINICIAN_WORKLIST = "/clinician/"
FORM_TYPE = "application/x-www-form-urlencoded"
LOCK_VERSION = re.compile(r'name="lock_version" value="(\d+)"')
LOCK_FIELD = re.compile(r"\block_version=\d+")
# The step whose POST is measured: the priorities step, the first with this many choice groups
# (seven importance ratings and "which matters most"), so the POST validates the most inputs.
TARGET_CHOICE_GROUPS = 6
MAX_STEPS_WALKED = 12


class FlowError(RuntimeError):
    """The service did not answer a set-up request as a patient's browser would expect."""


# ---------------------------------------------------------------- HTML forms


@dataclass
class Form:
    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # what a browser would submit
    radios: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    checkboxes: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    submits: list[tuple[str, str]] = field(default_factory=list)
    required: set[str] = field(default_factory=set)

    def body(self, submit: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        """The form as submitted: current values; a radio group with nothing checked gets its
        middle option, a checkbox group with nothing ticked its first box."""
        values = list(self.fields)
        for name, boxes in self.checkboxes.items():
            ticked = [value for value, on in boxes if on] or [boxes[0][0]]
            values.extend((name, value) for value in ticked)
        for name, options in self.radios.items():
            checked = [value for value, on in options if on]
            if checked:
                values.append((name, checked[0]))
            elif options:
                values.append((name, options[len(options) // 2][0]))
        if submit and submit[0]:
            values.append(submit)
        return values

    def continue_button(self) -> tuple[str, str] | None:
        """The submit button that moves forward (not Back, not Save and finish later)."""
        for name, value in self.submits:
            text = f"{name} {value}".lower()
            if any(word in text for word in ("continue", "next", "save_next", "forward")):
                return name, value
        for name, value in self.submits:
            text = f"{name} {value}".lower()
            if not any(word in text for word in ("back", "later", "previous", "prev")):
                return name, value
        return None


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._select: tuple[str, list[tuple[str, bool]]] | None = None
        self._textarea: tuple[str, list[str]] | None = None

    @property
    def _form(self) -> Form | None:
        return self.forms[-1] if self.forms else None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
            return
        form = self._form
        if form is None:
            return
        name = a.get("name", "")
        if tag == "input":
            kind = a.get("type", "text").lower()
            if "required" in a and name:
                form.required.add(name)
            if kind == "radio" and name:
                form.radios.setdefault(name, []).append((a.get("value", "on"), "checked" in a))
            elif kind == "checkbox" and name:
                form.checkboxes.setdefault(name, []).append((a.get("value", "on"), "checked" in a))
            elif kind in ("submit", "image"):
                form.submits.append((name, a.get("value", "")))
            elif kind not in ("button", "reset", "file") and name:
                form.fields.append((name, a.get("value", "")))
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            form.submits.append((name, a.get("value", "")))
        elif tag == "select" and name:
            self._select = (name, [])
        elif tag == "option" and self._select is not None:
            self._select[1].append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        form = self._form
        if tag == "select" and self._select is not None and form is not None:
            name, options = self._select
            chosen = [v for v, on in options if on] or [v for v, _ in options if v]
            if chosen:
                form.fields.append((name, chosen[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and form is not None:
            form.fields.append((self._textarea[0], "".join(self._textarea[1]).strip()))
            self._textarea = None


def parse_forms(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def post_forms(html: str) -> list[Form]:
    return [form for form in parse_forms(html) if form.method == "post"]


# ---------------------------------------------------------------- a browser with a cookie jar


class Browser:
    """Follows redirects and keeps cookies by hand (Secure cookies included)."""

    def __init__(self, base_url: str, extra_headers: dict[str, str] | None = None) -> None:
        self.base_url = base_url
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.cookies: dict[str, str] = {}
        self.extra_headers = {**PROXY_HEADERS, **(extra_headers or {})}
        self.url = "/"

    def close(self) -> None:
        self.client.close()

    def cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def headers(self, **more: str) -> dict[str, str]:
        headers = dict(self.extra_headers)
        if self.cookies:
            headers["Cookie"] = self.cookie_header()
        headers.update(more)
        return headers

    def _remember(self, response: httpx.Response) -> None:
        for raw in response.headers.get_list("set-cookie"):
            pair, _, attributes = raw.partition(";")
            name, _, value = pair.strip().partition("=")
            expired = re.search(r"max-age=0\b", attributes, re.IGNORECASE) or not value
            if expired:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value

    def request(self, method: str, path: str, *, data: list[tuple[str, str]] | None = None) -> httpx.Response:
        body = urlencode(data) if data is not None else None
        headers = self.headers(**({"Content-Type": FORM_TYPE} if body is not None else {}))
        response = self.client.request(method, path, content=body, headers=headers)
        self._remember(response)
        hops = 0
        while response.status_code in (301, 302, 303, 307, 308) and hops < 8:
            location = response.headers["location"]
            target = urlsplit(urljoin(f"{self.base_url}{path}", location))
            path = target.path + (f"?{target.query}" if target.query else "")
            response = self.client.get(path, headers=self.headers())
            self._remember(response)
            hops += 1
        self.url = path
        return response

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, data: list[tuple[str, str]]) -> httpx.Response:
        return self.request("POST", path, data=data)


def _expect(response: httpx.Response, what: str, statuses: tuple[int, ...] = (200,)) -> httpx.Response:
    if response.status_code not in statuses:
        raise FlowError(f"{what}: HTTP {response.status_code} at {response.url}\n{response.text[:600]}")
    return response


# ---------------------------------------------------------------- patient sessions


@dataclass(frozen=True)
class PatientSession:
    step_path: str  # the step page this session reads and posts
    cookie: str
    form_body: str  # urlencoded answers + CSRF token, the same each time

    def get_request(self) -> PreparedRequest:
        return PreparedRequest("GET", self.step_path, {**PROXY_HEADERS, "Cookie": self.cookie})

    def post_request(self, action: str) -> PreparedRequest:
        headers = {**PROXY_HEADERS, "Cookie": self.cookie, "Content-Type": FORM_TYPE}
        return PreparedRequest("POST", action, headers, self.form_body)

    def refreshed(self, base_url: str) -> PatientSession:
        """The same answers with the form's current lock_version, read from a real GET."""
        headers = {**PROXY_HEADERS, "Cookie": self.cookie}
        page = _expect(httpx.get(f"{base_url}{self.step_path}", headers=headers, timeout=30), "step page")
        match = LOCK_VERSION.search(page.text)
        if match is None:
            return self
        body = LOCK_FIELD.sub(f"lock_version={match.group(1)}", self.form_body)
        return PatientSession(self.step_path, self.cookie, body)


def _step_form(html: str) -> Form | None:
    for form in post_forms(html):
        if form.continue_button() is not None or form.radios or len(form.fields) > 1:
            return form
    return None


def start_patient_session(base_url: str) -> tuple[PatientSession, str]:
    """Start a response like a patient and walk to the priorities step; returns the session and
    the step form's action (where the step POST goes)."""
    browser = Browser(base_url)
    try:
        page = _expect(browser.get(QUESTIONNAIRE_START), "patient start page")
        for _ in range(MAX_STEPS_WALKED):
            form = _step_form(page.text)
            if form is None:
                raise FlowError(f"no step form at {browser.url}:\n{page.text[:600]}")
            if len(form.radios) >= TARGET_CHOICE_GROUPS:
                action = urljoin(browser.url, form.action or browser.url)
                body = urlencode(form.body(form.continue_button()))
                return PatientSession(browser.url, browser.cookie_header(), body), urlsplit(action).path
            action = form.action or browser.url
            page = _expect(
                browser.post(urljoin(browser.url, action), form.body(form.continue_button())),
                f"continue from {browser.url}",
            )
        raise FlowError(
            f"did not reach the priorities step in {MAX_STEPS_WALKED} steps (last: {browser.url})"
        )
    finally:
        browser.close()


def resume_patient_session(base_url: str, step_path: str, token: str) -> PatientSession:
    """A patient coming back with their session cookie: GET the step page for its form and CSRF."""
    browser = Browser(base_url)
    browser.cookies[PATIENT_COOKIE] = token
    try:
        page = _expect(browser.get(step_path), f"step page for a resumed session ({step_path})")
        form = _step_form(page.text)
        if form is None or len(form.radios) < TARGET_CHOICE_GROUPS:
            raise FlowError(f"{browser.url} is not the priorities step form:\n{page.text[:600]}")
        body = urlencode(form.body(form.continue_button()))
        return PatientSession(browser.url, browser.cookie_header(), body)
    finally:
        browser.close()


def check_step_post(base_url: str, session: PatientSession, action: str) -> str:
    """Post the prepared step once, as wrk will; it must be accepted (redirect to the next step)."""
    headers = {**PROXY_HEADERS, "Cookie": session.cookie, "Content-Type": FORM_TYPE}
    response = httpx.post(f"{base_url}{action}", content=session.form_body, headers=headers, timeout=30)
    if response.status_code not in (302, 303):
        raise FlowError(
            f"the step POST was not accepted (HTTP {response.status_code}, expected a redirect to the "
            f"next step):\n{response.text[:800]}"
        )
    return response.headers.get("location", "")


def check_get(base_url: str, request: PreparedRequest, what: str, must_contain: str = "") -> httpx.Response:
    response = httpx.get(f"{base_url}{request.path}", headers=request.headers, timeout=30)
    _expect(response, what)
    if must_contain and must_contain not in response.text:
        raise FlowError(f"{what}: the page does not contain {must_contain!r}")
    return response


# ---------------------------------------------------------------- clinician


def clinician_cookie(base_url: str, username: str, password: str) -> str:
    """Sign in once through the real form; the session cookie is then reused by every request."""
    browser = Browser(base_url)
    try:
        page = _expect(browser.get(CLINICIAN_SIGN_IN), "clinician sign-in page")
        forms = [f for f in post_forms(page.text) if any(name == "password" for name, _ in f.fields)]
        if not forms:
            raise FlowError("no sign-in form with a password field")
        form = forms[0]
        values = [(n, v) for n, v in form.body() if n not in ("username", "password")]
        values += [("username", username), ("password", password)]
        landing = browser.post(urljoin(browser.url, form.action or CLINICIAN_SIGN_IN), values)
        _expect(landing, "clinician sign-in")
        if SESSION_COOKIE not in browser.cookies:
            raise FlowError(f"sign-in gave no session cookie:\n{landing.text[:600]}")
        return browser.cookie_header()
    finally:
        browser.close()
