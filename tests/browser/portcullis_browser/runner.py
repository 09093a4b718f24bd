"""Runs the steps in order and reports them: one PASS/SKIP/FAIL line each, then a summary.

The output and exit code are the contract with tests/tests/suites/browser_login.rs:
it requires the summary line "browser: N passed, 0 failed, 0 skipped" and exit 0.
The first failing step ends the run (later steps build on earlier ones); its
line says what was expected and what came back, followed by where the browser
was and its last console messages. The whole run is bounded by SIGALRM.
"""

from __future__ import annotations

import argparse
import os
import signal
import time

from .callback_server import CallbackServer
from .checks import StepFailed
from .chromium import start_chromium
from .code_flow_steps import step_consent_allow, step_login_and_deny, step_refresh, step_sso, step_userinfo
from .device_steps import step_device
from .discovery import step_discovery
from .harness import Harness
from .logout_steps import step_logout, step_relogin
from .public_client_steps import step_public_client

TOTAL_SECONDS = 90  # hard bound on the whole run

STEPS = [
    ("a-discovery", step_discovery),
    ("b-login-deny", step_login_and_deny),
    ("b-consent-code", step_consent_allow),
    ("c-userinfo", step_userinfo),
    ("d-sso", step_sso),
    ("e-refresh", step_refresh),
    ("f-logout", step_logout),
    ("g-relogin", step_relogin),
    ("h-device", step_device),
    ("i-public-client", step_public_client),
]


def on_alarm(signum, frame):
    raise StepFailed(f"the whole run within {TOTAL_SECONDS}s", "still running")


def run(args: argparse.Namespace) -> int:
    """Run every step against the issuer; 0 when all passed (or skipped), 1 on the first failure."""
    server = CallbackServer()
    h = Harness(args=args, server=server)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TOTAL_SECONDS)
    started = time.monotonic()
    current = "browser"
    passed = skipped = 0
    try:
        h.driver = start_chromium()
        for name, step in STEPS:
            current = name
            t0 = time.monotonic()
            detail = step(h)
            word = "SKIP" if detail.startswith("SKIP") else "PASS"
            detail = detail.removeprefix("SKIP: ")
            skipped += word == "SKIP"
            passed += word == "PASS"
            print(f"{word} {name} ({time.monotonic() - t0:.1f}s): {detail}", flush=True)
        signal.alarm(0)
        print(f"all steps done in {time.monotonic() - started:.1f}s", flush=True)
        print(f"browser: {passed} passed, 0 failed, {skipped} skipped", flush=True)
        return 0
    except Exception as e:  # noqa: BLE001 - every failure is reported the same way
        signal.alarm(0)
        what = str(e) if isinstance(e, StepFailed) else f"{type(e).__name__}: {e}"
        print(f"FAIL {current}: {what}", flush=True)
        if h.driver is not None:
            report_browser(h.driver, current, args.screenshot_dir)
        print(f"browser: {passed} passed, 1 failed, {skipped} skipped", flush=True)
        return 1
    finally:
        signal.alarm(0)
        if h.driver is not None:
            try:
                h.driver.quit()
            except Exception:  # noqa: BLE001
                pass
        server.close()


def report_browser(driver, step: str, screenshot_dir: str | None) -> None:
    """After a failure: the browser's URL, its last console messages and, if asked, a screenshot."""
    try:
        print(f"     browser at {driver.current_url}", flush=True)
        for entry in driver.get_log("browser")[-5:]:
            print(f"     console {entry.get('level')}: {entry.get('message')}", flush=True)
        if screenshot_dir:
            os.makedirs(screenshot_dir, exist_ok=True)
            path = os.path.join(screenshot_dir, f"{step}.png")
            driver.save_screenshot(path)
            print(f"     screenshot {path}", flush=True)
    except Exception:  # noqa: BLE001 - a dead browser must not hide the failure line
        pass
