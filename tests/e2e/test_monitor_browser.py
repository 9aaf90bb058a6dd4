"""The traffic monitor's page in a real browser: Debian's headless Chromium, driven by
Playwright (its Python package only; no browser of its own), loads the page while traffic
flows, and the tests assert on the rendered DOM. Screenshots are kept in test-artifacts/ (or
$PILOT_ARTIFACTS_DIR)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from pilot.traffic.store import Exchange
from tests.helpers import REPO, Pilot, python_job, require, scaled, wait_for
from tests.integration.test_monitor_page import RunningPage, exchange

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DEADLINE_MS = 10_000  # for anything the page should show


def artifact(name: str) -> Path:
    """Where to keep screenshot `name`: $PILOT_ARTIFACTS_DIR, else test-artifacts/."""
    directory = Path(os.environ.get("PILOT_ARTIFACTS_DIR") or REPO / "test-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / name


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A Playwright page in headless Chromium with a fresh profile; fails the test on a
    script error or a Content-Security-Policy violation of the page."""
    require(
        shutil.which(CHROMIUM) is not None,
        f"{CHROMIUM} is missing (Debian's chromium package)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require(
            False, "playwright is missing (pip install playwright; it drives Debian's chromium)"
        )
    problems: list[str] = []
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900},
        )
        page = context.new_page()
        page.set_default_timeout(DEADLINE_MS)
        page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        try:
            yield page
        finally:
            context.close()
    assert not problems


@pytest.fixture
def running() -> Iterator[RunningPage]:
    instance = RunningPage()
    yield instance
    instance.close()


def order(number: int, status: int = 200) -> Exchange:
    body = json.dumps({"order": number, "items": [{"sku": "A-1", "qty": 2}], "paid": True})
    return exchange("api", f"/orders/{number}", status, body=body.encode())


def traffic(n: int) -> Exchange:
    """The n-th exchange of a steady flow: api's orders (some failing) and web's pages."""
    kind = n % 4
    if kind == 0:
        return order(n)
    if kind == 1:
        return exchange("web", f"/page/{n}", 200, body=b"<p>hi</p>", content_type="text/html")
    if kind == 2:
        return order(n, 503)
    return exchange("web", "/missing", 404, client_service="api")


class Flow:
    """Adds one exchange of `traffic` every 50 ms from a thread, until stopped."""

    def __init__(self, running: RunningPage) -> None:
        self._running = running
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        n = 100
        while not self._stop.wait(0.05):  # the pace of the traffic, not a synchronisation
            self._running.add(traffic(n))
            n += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(scaled(10))


def rows(page: Any) -> list[dict[str, str]]:
    """The data of the listed rows, top to bottom."""
    return list(
        page.eval_on_selector_all("tr.exchange", "rows => rows.map(row => ({...row.dataset}))")
    )


def wait_rows(page: Any, search: str, condition: str) -> list[dict[str, str]]:
    """The rows once the page's query is `search` (the filters are applied) and there are rows,
    every one's dataset (`d`) meeting JS `condition`."""
    page.wait_for_function(
        f"""() => {{
            const rows = [...document.querySelectorAll("tr.exchange")];
            const meets = row => {{ const d = row.dataset; return {condition}; }};
            return location.search === {json.dumps(search)} && rows.length > 0
                && rows.every(meets);
        }}""",
    )
    return rows(page)


def assert_newest_first(listed: list[dict[str, str]]) -> None:
    numbers = [int(row["id"]) for row in listed]
    assert numbers == sorted(numbers, reverse=True)


def test_live_rows_filters_and_detail(browser: Any, running: RunningPage) -> None:
    """Rows appear as traffic flows, newest first, without a reload; each filter (service,
    status class, path) hides the other rows, also those that arrive after it, and is in
    the URL; a clicked row shows its exchange with the JSON body pretty-printed."""
    page = browser
    running.add(*(traffic(n) for n in range(4)))
    page.goto(running.url)
    page.wait_for_function("() => document.querySelectorAll('tr.exchange').length === 4")
    assert page.text_content("#state") == "live"
    flow = Flow(running)
    try:
        page.wait_for_function("() => document.querySelectorAll('tr.exchange').length >= 12")
        assert_newest_first(rows(page))
        assert page.url.rstrip("/") == running.url

        page.select_option("#filter-service", "web")
        seen = wait_rows(page, "?service=web", "d.service === 'web'")
        page.wait_for_function(
            f"() => document.querySelector('tr.exchange').dataset.id > {seen[0]['id']}"
        )  # new ones still arrive under the filter
        wait_rows(page, "?service=web", "d.service === 'web'")

        page.select_option("#filter-service", "")
        page.fill("#filter-status", "5xx")
        listed = wait_rows(page, "?status=5xx", "d.status.startsWith('5')")
        assert {row["service"] for row in listed} == {"api"}

        page.fill("#filter-status", "")
        page.fill("#filter-path", "/orders")
        listed = wait_rows(page, "?path=%2Forders", "d.url.includes('/orders')")
        assert {row["status"] for row in listed} == {"200", "503"}
        assert_newest_first(listed)
    finally:
        flow.stop()

    ok = next(row for row in rows(page) if row["status"] == "200")
    page.click(f"tr.exchange[data-id='{ok['id']}']")
    page.wait_for_selector(f"#detail[data-id='{ok['id']}'] #response-body pre")
    assert page.text_content("#detail [data-field=request]") == f"GET {ok['url']} HTTP/1.1"
    assert page.text_content("#detail [data-field=status]") == "200 OK"
    body = page.text_content("#response-body pre")
    assert page.get_attribute("#response-body pre", "data-format") == "json"
    assert body.startswith('{\n  "order": ') and '\n    {\n      "sku": "A-1",' in body
    assert "selected" in (page.get_attribute(f"tr[data-id='{ok['id']}']", "class") or "")
    assert page.url.endswith(f"#{ok['id']}")
    page.screenshot(path=str(artifact("monitor-page.png")), full_page=True)


def test_a_link_reproduces_a_view_and_an_exchange(browser: Any, running: RunningPage) -> None:
    """`?service=&status=&path=` sets the filters and `#N` opens exchange N; bodies are shown
    as text (markup is not rendered), binary by size, cuts and upgrades noted."""
    page = browser
    markup = b'<img src="/x" onerror="document.title=1"><b>bold</b>'
    long = b'{"long": "text beyond the limit"}'
    upgraded = exchange("api", "/socket", 101)
    upgraded.upgrade = "websocket"
    running.add(
        exchange("api", "/orders/1", 200, body=long, body_limit=8),
        order(2, 503),
        exchange("api", "/orders/3", 500, body=markup, content_type="text/html"),
        exchange("api", "/other", 503),
        exchange("web", "/orders/4", 503),
        exchange("api", "/image", 200, body=bytes(range(256)), content_type="image/png"),
        upgraded,
    )

    page.goto(f"{running.url}/?service=api&status=5xx&path=/orders#3")
    listed = wait_rows(page, "?service=api&status=5xx&path=%2Forders", "true")
    assert [row["id"] for row in listed] == ["3", "2"]
    assert page.input_value("#filter-service") == "api"
    assert page.input_value("#filter-status") == "5xx"
    assert page.input_value("#filter-path") == "/orders"
    page.wait_for_selector("#detail[data-id='3'] #response-body pre")
    assert page.text_content("#response-body pre") == markup.decode()
    assert page.get_attribute("#response-body pre", "data-format") == "text"
    assert page.locator("#detail img, #detail b").count() == 0
    assert page.title() != "1"
    page.screenshot(path=str(artifact("monitor-page-link.png")), full_page=True)

    page.goto(f"{running.url}/?id=6")
    page.wait_for_selector("#detail[data-id='6'] #response-body .body-note")
    assert page.text_content("#response-body") == "binary, 256 bytes"
    page.goto(f"{running.url}/#1")
    page.wait_for_selector("#detail[data-id='1'] #response-body .body-note")
    assert page.text_content("#response-body pre") == '{"long":'
    assert f"truncated (8 of {len(long)} bytes kept)" in page.text_content("#response-body")
    page.goto(f"{running.url}/#7")
    page.wait_for_selector("#detail[data-id='7'] [data-field=upgrade]")
    assert "websocket" in page.text_content("#detail [data-field=upgrade]")
    page.goto(f"{running.url}/#99")
    page.wait_for_selector("#detail[data-id='99'] p")
    assert "no exchange 99" in page.text_content("#detail")


# An HTTP service answering JSON about each request, on $PORT.
SERVICE = python_job("""
    import http.server, json, os
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def do_GET(self):
            body = json.dumps({"path": self.path, "ok": True}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        def log_message(self, *args):
            pass
    http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
""")


def test_pilot_up_serves_the_page_at_monitor_listen(
    browser: Any, pilot: Callable[..., Pilot], tmp_path: Path
) -> None:
    """`pilot up` with the monitor: requests to a service show up on the page at the
    configured `monitor.listen`, live, and in detail."""
    page = browser
    listen = f"127.0.0.1:{_free_port()}"
    p = pilot(
        {
            "monitor": {"listen": listen},
            "jobs": [{"name": "api", "exec": SERVICE, "port": "auto", "monitor": True}],
        },
        command="up",
    )
    p.wait_for_output(f"traffic monitor on http://{re.escape(listen)}/", 20)
    kept = tmp_path / ".pilot" / "ports.json"
    port = wait_for(lambda: kept.exists() and json.loads(kept.read_text()).get("api"), 10)

    def call(path: str) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{port}{path}", timeout=scaled(5)).ok
        except requests.ConnectionError:
            return False

    wait_for(lambda: call("/first"), 20, message="api answering through the proxy")
    page.goto(f"http://{listen}/")
    page.wait_for_selector("tr.exchange[data-url='/first']")
    assert call("/orders?id=7")
    page.wait_for_selector("tr.exchange[data-url='/orders?id=7']")  # no reload
    assert rows(page)[0]["url"] == "/orders?id=7" and rows(page)[0]["service"] == "api"
    page.click("tr.exchange[data-url='/orders?id=7']")
    page.wait_for_selector("#detail #response-body pre")
    assert re.fullmatch(
        r'\{\n  "path": "/orders\?id=7",\n  "ok": true\n\}', page.text_content("#response-body pre")
    )
    page.screenshot(path=str(artifact("monitor-page-up.png")), full_page=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
