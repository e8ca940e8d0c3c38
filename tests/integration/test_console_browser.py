"""Issue 20, deliverable 1: the order console end to end in headless Chromium (Debian's chromium
and chromedriver, bin/ensure-chromium; Selenium from the dev extra) against a live stack with the
console process from the Procfile: find an order, read its timeline, redrive and replay with a
confirmation, see the result. Screenshots go to CONSOLE_SCREENSHOTS (docs/console/ holds a
run's: `CONSOLE_SCREENSHOTS=docs/console ./dev test tests/integration/test_console_browser.py`)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import pytest
import requests

from tests.support.factories import sample_order
from tests.support.live import CONSOLE_PASSWORD, CONSOLE_USER, CallbackReceiver, start_live, wait_until

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    (CHROMIUM is None or CHROMEDRIVER is None) and not os.environ.get("CI"),
    reason="no chromium/chromedriver here: bin/ensure-chromium installs them (CI runs it)",
)
BY = f"console:{CONSOLE_USER}"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    stack = start_live(str(tmp_path_factory.mktemp("live")), console=True, CALLBACK_MAX_ATTEMPTS="2")
    yield stack
    stack.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    where = Path(os.environ.get("CONSOLE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    where.mkdir(parents=True, exist_ok=True)
    return where


@pytest.fixture(scope="module")
def browser(live):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM or "/usr/bin/chromium"
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--disable-gpu",
        "--hide-scrollbars",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER or "/usr/bin/chromedriver"), options=options)
    # the on-call login on every request, as the browser would send it once the user typed it
    login = base64.b64encode(f"{CONSOLE_USER}:{CONSOLE_PASSWORD}".encode()).decode()
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"Authorization": f"Basic {login}"}})
    driver.implicitly_wait(2)
    yield driver
    driver.quit()


class Console:
    """What on-call does in the browser."""

    def __init__(self, driver, base: str, shots: Path):
        from selenium.webdriver.common.by import By

        self.driver, self.base, self.shots, self.by = driver, base, shots, By

    def open(self, path: str = "/"):
        self.driver.get(self.base + path)

    def find(self, uid: str):
        self.open("/")
        box = self.driver.find_element(self.by.ID, "find-uid")
        box.clear()
        box.send_keys(uid)
        self.driver.find_element(self.by.ID, "find-go").click()
        assert self.text("#order-uid") == uid

    def text(self, css: str) -> str:
        return self.driver.find_element(self.by.CSS_SELECTOR, css).text

    def all(self, css: str) -> list:
        return self.driver.find_elements(self.by.CSS_SELECTOR, css)

    def click(self, css: str):
        self.driver.find_element(self.by.CSS_SELECTOR, css).click()

    def shot(self, name: str):
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))

    def timeline(self) -> list[str]:
        return [li.text for li in self.all("#timeline li")]


@pytest.fixture(scope="module")
def console(browser, live, shots):
    return Console(browser, live.console_url, shots)


def test_the_console_needs_the_login(live):
    assert requests.get(live.console_url + "/", timeout=10).status_code == 401
    assert requests.get(live.console_url + "/", auth=(CONSOLE_USER, CONSOLE_PASSWORD), timeout=10).status_code == 200
    assert (
        requests.post(
            live.console_url + "/orders/x/redrive", auth=(CONSOLE_USER, CONSOLE_PASSWORD), timeout=10
        ).status_code
        == 403
    )  # no CSRF token


def test_a_rejected_order_reads_as_a_failure(live, console):
    live.knobs("loc-003", items={"item-003": False})  # the soda is off: validation refuses it
    uid = "console-rejected"
    answer = live.submit(sample_order(uid, location_id="loc-003", tax_rate="0.0700"))
    assert answer.json()["status"] == "rejected", answer.text
    console.find(uid)
    assert console.text(".status") == "rejected"
    assert "item_unavailable" in console.text("#order-errors")
    red = console.driver.find_element(console.by.CSS_SELECTOR, "h1 .status").value_of_css_property("background-color")
    assert red.replace(" ", "") in ("rgba(179,38,30,1)", "rgb(179,38,30)"), red
    console.shot("rejected")


def test_a_failing_order_is_redriven_with_a_confirmation(live, console):
    live.warm_menu("loc-002")
    live.knobs("loc-002", error_rate=1.0, error_status=503)  # every POST answers 503
    uid = "console-redrive"
    answer = live.submit(sample_order(uid, location_id="loc-002", tax_rate="0.0600"))
    assert answer.json()["status"] == "pending", answer.text
    wait_until(
        lambda: sum("POS attempt" in h.get("note", "") for h in live.history(uid)) >= 2,
        20,
        message="two failed POS attempts",
    )
    console.find(uid)
    attempts = [li for li in console.all("#timeline li.pos") if "POS attempt" in li.text]
    assert attempts and all("failed" in li.get_attribute("class") for li in attempts)
    assert "received" in console.timeline()[0] and "web" in console.timeline()[0]  # who, when, why
    console.shot("order-failing")
    console.click("#action-redrive")
    assert "Re-drive " + uid in console.text("h1") and BY in console.text("main")
    console.shot("confirm-redrive")
    live.knobs("loc-002", error_rate=0.0)  # the POS is back
    console.click("#confirm")
    flash = console.text(".flash")
    assert console.text("#order-uid") == uid
    if "busy" in flash:  # a move was in flight that instant (it retries by itself): ask again
        console.click("#action-redrive")
        console.click("#confirm")
        flash = console.text(".flash")
    assert flash == f"re-driven by {BY}: a worker takes it now", flash
    assert any("re-driven" in line and BY in line for line in console.timeline())
    logged = [json.loads(line) for line in live.stack.log("console").splitlines() if line.startswith("{")]
    assert any(
        entry.get("msg") == "console action"
        and entry.get("by") == BY
        and entry.get("request_uid") == uid
        and entry.get("process") == "console"
        for entry in logged
    ), logged[-5:]
    assert live.wait_final(uid)["status"] == "placed"
    console.open(f"/orders/{uid}")
    assert console.text("h1 .status") == "placed" and "placed" in console.timeline()[-1]
    console.shot("redriven-then-placed")


def test_a_dead_callback_is_replayed_with_a_confirmation(live, console):
    with CallbackReceiver(status=500) as receiver:
        uid = "console-callback"
        live.knobs("loc-001", latency_ms=1500)  # past the inline budget: answered 202, so its callback is owed
        answer = live.submit(sample_order(uid, callback_url=receiver.url))
        assert answer.json()["status"] == "pending", answer.text
        assert live.wait_final(uid)["status"] == "placed"
        live.knobs("loc-001", latency_ms=0)
        wait_until(lambda: live.redis.zscore("callbacks:dead", uid) is not None, 30, message="callback given up")
        console.open("/")
        assert int(console.text("#count-dead-callbacks")) >= 1
        console.shot("index")
        console.open("/lists/dead-callbacks")
        assert uid in console.text("table.rows") and "HTTP 500" in console.text("table.rows")
        console.shot("dead-callbacks")
        console.click(f'a[href="/orders/{uid}"]')
        console.click("#action-replay")
        assert "Replay callback " + uid in console.text("h1")
        receiver.status = 200
        console.click("#confirm")
        assert console.text(".flash") == f"callback replay queued by {BY}"
        wait_until(
            lambda: receiver.bodies(uid) and live.record(uid).get("cb") == "delivered",
            20,
            message="the replayed callback delivered",
        )
        console.open(f"/orders/{uid}")
        assert any("callback replay requested" in line and BY in line for line in console.timeline())
        assert "callback delivered" in console.timeline()[-1]
        console.shot("replayed")
    console.open("/lists/dead-callbacks")
    assert uid not in console.text("main")


def test_recent_orders_by_location_and_status(live, console):
    console.open("/recent?location=loc-003&status=rejected")
    table = console.text("table.rows")
    assert "console-rejected" in table and "item_unavailable" in table
    assert "console-redrive" not in table and "console-callback" not in table
    console.shot("recent")
