"""Step h: the device authorization grant (RFC 8628), approved in the browser.

The confidential client asks for a device code, its first poll is told to
wait, the browser opens verification_uri_complete and logs in, enters the code
and allows as the pages ask, and polling then yields tokens. Skipped when
discovery has no device_authorization_endpoint.
"""

from __future__ import annotations

import time

from selenium.webdriver.common.by import By

from .checks import StepFailed, expect, expect_eq
from .discovery import DEVICE_GRANT
from .harness import Harness
from .pages import (SEL_ALLOW, SEL_SUBMIT, SEL_USER_CODE, classify_settled,
                    click_and_wait_for_new_document, log_in, navigate, submit, visible_text)
from .relying_party import SCOPE, post_token_endpoint

DEVICE_POLL_SECONDS = 30  # bound on device-flow polling
MAX_DEVICE_PAGES = 6  # pages the browser may pass through while approving


def step_device(h: Harness) -> str:
    endpoint = h.meta.get("device_authorization_endpoint")
    if not endpoint:
        return "SKIP: no device_authorization_endpoint in discovery"
    client_id = h.args.client_id
    data, auth = h.with_client_credentials({"scope": SCOPE, "client_id": client_id})
    r = h.post(endpoint, data=data, auth=auth)
    expect_eq(r.status_code, 200, "device_authorization status")
    grant = r.json()
    for k in ("device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in"):
        expect(k in grant, f"{k} in device authorization response", sorted(grant))
    interval = int(grant.get("interval", 5))
    poll = {"grant_type": DEVICE_GRANT, "device_code": grant["device_code"], "client_id": client_id}

    status, err, body = post_token_endpoint(h, poll)
    expect(status == 400 and err in ("authorization_pending", "slow_down"),
           "first poll: 400 authorization_pending (or slow_down)", (status, body))

    approve_device(h, grant["verification_uri_complete"], grant["user_code"])

    deadline = time.monotonic() + DEVICE_POLL_SECONDS
    polls = 1
    while True:
        time.sleep(interval)
        status, err, body = post_token_endpoint(h, poll)
        polls += 1
        if status == 200:
            break
        expect(err in ("authorization_pending", "slow_down"),
               "authorization_pending or slow_down while polling", (status, body))
        if err == "slow_down":
            interval += 5  # RFC 8628 §3.5
        expect(time.monotonic() + interval < deadline,
               f"tokens within {DEVICE_POLL_SECONDS}s of approval", (status, body))
    expect(bool(body.get("access_token")), "an access_token from the device grant", sorted(body))
    return f"user code {grant['user_code']} approved in the browser; tokens after {polls} polls"


def approve_device(h: Harness, url: str, user_code: str) -> None:
    """Open verification_uri_complete; log in, enter the code, approve, as the pages ask."""
    driver, server = h.driver, h.server
    page = navigate(driver, server, url)
    approvals = 0
    for _ in range(MAX_DEVICE_PAGES):
        if page is None:  # a plain result page after approving
            break
        if page.kind == "login":
            page = log_in(driver, server, h.args.username, h.args.password)
        elif page.kind == "consent":  # a page with the allow button
            expect(approvals < 2, "at most two approval pages", approvals + 1)
            code_input = driver.find_elements(By.CSS_SELECTOR, SEL_USER_CODE)
            if code_input and not code_input[0].get_attribute("value"):
                code_input[0].send_keys(user_code)
            click_and_wait_for_new_document(driver, driver.find_element(By.CSS_SELECTOR, SEL_ALLOW),
                                            "a new page after clicking allow")
            approvals += 1
            page = classify_settled(driver, server)
        elif page.kind == "device":  # user_code input without an allow button
            code_input = driver.find_element(By.CSS_SELECTOR, SEL_USER_CODE)
            code_input.clear()
            code_input.send_keys(user_code)
            form = code_input.find_element(By.XPATH, "ancestor::form")
            page = submit(driver, server, form.find_element(By.CSS_SELECTOR, SEL_SUBMIT))
        else:
            raise StepFailed("a device page (login, user_code input or allow button)", page.kind)
    expect(approvals >= 1, "the device page to offer approval", visible_text(driver)[:300])
    expect(page is None, "a result page after approving", page and page.kind)
