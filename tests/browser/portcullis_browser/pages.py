"""What the browser is looking at, and how to move it on: the issuer's pages as selenium sees them.

Holds the HTML contract with the issuer's templates
(services/auth-issuer/templates: login, consent, device) as CSS selectors,
recognises which page is showing (or that the browser reached the relying
party's callback server), and submits forms while waiting for the next page.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By

from .callback_server import CallbackServer, Hit
from .checks import StepFailed, expect, expect_eq
from .chromium import PAGE_SECONDS

SEL_LOGIN_FORM = "form:has(input[name=username])"
SEL_USERNAME = "input[name=username]"
SEL_PASSWORD = "input[name=password]"
SEL_SUBMIT = "button[type=submit]"
SEL_ALLOW = "button[name=decision][value=allow]"
SEL_DENY = "button[name=decision][value=deny]"
SEL_USER_CODE = "input[name=user_code]"


@dataclass
class Page:
    kind: str  # "callback" | "logged-out" | "login" | "consent" | "device"
    hit: Hit | None = None


def classify(driver, server: CallbackServer) -> Page | None:
    hit = server.take()
    if hit is not None:
        return Page("callback" if hit.path == "/callback" else "logged-out", hit)
    if driver.find_elements(By.CSS_SELECTOR, SEL_USERNAME):
        return Page("login")
    if driver.find_elements(By.CSS_SELECTOR, SEL_ALLOW):
        return Page("consent")
    if driver.find_elements(By.CSS_SELECTOR, SEL_USER_CODE):
        return Page("device")
    return None


def wait_page(driver, server: CallbackServer, timeout: float = PAGE_SECONDS) -> Page:
    """Wait until the browser shows one of the known pages or hits the RP."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            page = classify(driver, server)
        except WebDriverException:
            page = None  # the page is being replaced under us
        if page is not None:
            return page
        if time.monotonic() > deadline:
            raise StepFailed(
                "a login, consent or device page, or a redirect to the RP",
                f"{driver.current_url} showing {visible_text(driver)[:300]!r}")
        time.sleep(0.1)


def visible_text(driver) -> str:
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return ""


def navigate(driver, server: CallbackServer, url: str) -> Page:
    server.clear()
    driver.get(url)
    return wait_page(driver, server)


def submit(driver, server: CallbackServer, button) -> Page:
    """Click a submit button and wait for the next page (old one gone, new one known)."""
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    deadline = time.monotonic() + PAGE_SECONDS
    while time.monotonic() < deadline:
        try:
            old.tag_name  # raises once the document is replaced
        except WebDriverException:
            break
        if server.has_hits():
            break
        time.sleep(0.05)
    else:
        raise StepFailed("the form submission to load a new page (a CSP form-action that "
                         "does not allow the redirect target blocks it silently)",
                         f"still on {driver.current_url}")
    return wait_page(driver, server)


def click_and_wait_for_new_document(driver, button, expected: str) -> None:
    """Click a button that loads a page the harness does not recognise (e.g. a result page)."""
    old = driver.find_element(By.TAG_NAME, "html")
    button.click()
    deadline = time.monotonic() + PAGE_SECONDS
    while time.monotonic() < deadline:
        try:
            old.tag_name  # raises once the document is replaced
        except WebDriverException:
            return
        time.sleep(0.05)
    raise StepFailed(expected, driver.current_url)


def classify_settled(driver, server: CallbackServer) -> Page | None:
    """After a click: another actionable page, or None for a plain result page."""
    time.sleep(0.2)
    try:
        return classify(driver, server)
    except WebDriverException:
        return None


def login_form(driver):
    forms = driver.find_elements(By.CSS_SELECTOR, SEL_LOGIN_FORM)
    expect(len(forms) == 1, "exactly one form holding input[name=username]", len(forms))
    form = forms[0]
    user = form.find_elements(By.CSS_SELECTOR, SEL_USERNAME)
    pw = form.find_elements(By.CSS_SELECTOR, SEL_PASSWORD)
    btn = form.find_elements(By.CSS_SELECTOR, SEL_SUBMIT)
    expect(len(pw) == 1, "input[name=password] in the login form", len(pw))
    expect(len(btn) >= 1, "button[type=submit] in the login form", len(btn))
    expect_eq(user[0].get_attribute("autocomplete"), "username", "username autocomplete")
    expect_eq(pw[0].get_attribute("autocomplete"), "current-password", "password autocomplete")
    expect_eq(pw[0].get_attribute("type"), "password", "password input type")
    return user[0], pw[0], btn[0]


def log_in(driver, server: CallbackServer, username: str, password: str) -> Page:
    user, pw, btn = login_form(driver)
    user.clear()
    user.send_keys(username)
    pw.clear()
    pw.send_keys(password)
    return submit(driver, server, btn)


def new_lines(before: str, after: str) -> list[str]:
    """The lines of page text that `after` shows and `before` did not (e.g. an error message)."""
    seen = set(before.splitlines())
    return [line.strip() for line in after.splitlines() if line.strip() and line not in seen]
