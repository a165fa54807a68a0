"""GET /docs (enable_docs_url): the Swagger UI page over /openapi.json, loaded in Debian's headless chromium through
selenium. Its files come from this server (no CDN), its operations render, and "Try it out" works against the
running server."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import e2e_util as u

selenium = pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 60  # seconds a page element may take on a loaded 2-core machine (a bound, not a timing assertion)


@pytest.fixture(scope="module")
def docs_stack(tmp_path_factory):
    cfg = u.default_config()
    yield from u.serve(u.Stack(tmp_path_factory.mktemp("docs"), cfg, args=["--enable_docs_url=true"], name="docs"))


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("chromium and chromium-driver are needed (make deps installs them)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,2000",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def network_urls(driver) -> list[str]:
    """Every URL the page asked for, from Chrome's DevTools network log."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def open_docs(driver, base_url: str) -> None:
    driver.get(base_url + "/docs")
    WebDriverWait(driver, WAIT).until(EC.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))


def test_docs_page_renders_every_operation_from_this_server_only(docs_stack, browser, tmp_path):
    document = u.expect_json(u.Api(docs_stack.base_url).get("/openapi.json"))
    operations = sum(len(item) for item in document["paths"].values())
    browser.get_log("performance")  # drop earlier entries
    open_docs(browser, docs_stack.base_url)
    WebDriverWait(browser, WAIT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= operations)
    blocks = browser.find_elements(By.CSS_SELECTOR, ".opblock")
    assert len(blocks) == operations
    paths = {b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") for b in blocks}
    assert "/v2/models/{model_name}/infer" in paths and "/v1/models/{model_name}:predict" in paths
    assert browser.find_element(By.CSS_SELECTOR, ".info .title").text.startswith("kserve")
    browser.save_screenshot(str(tmp_path / "docs.png"))
    shot = os.environ.get("KSERVE_DOCS_SCREENSHOT")
    if shot:
        browser.save_screenshot(shot)

    origin = urlsplit(docs_stack.base_url)
    urls = network_urls(browser)
    assert any(x.endswith("/docs/swagger-ui-bundle.js") for x in urls), urls
    assert any(x.endswith("/openapi.json") for x in urls), urls
    # (the browser's own chrome:// pages do not count: only what goes over the network)
    outside = [x for x in urls if urlsplit(x).scheme in ("http", "https", "ws", "wss")
               and (urlsplit(x).scheme, urlsplit(x).netloc) != (origin.scheme, origin.netloc)]
    assert not outside, f"the page asked for other origins: {outside}"
    # the browser's own view: every resource it fetched came from the server
    entries = browser.execute_script("return performance.getEntries().map(e => e.name)")
    assert all(e.startswith(docs_stack.base_url) for e in entries if "://" in e), entries


def try_it_out(driver, op_id: str, fill: dict[str, str] | None = None) -> str:
    """Expands the operation, presses Try it out and Execute; returns the status the page shows."""
    block = driver.find_element(By.ID, op_id)
    if "is-open" not in block.get_attribute("class"):
        block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.ID, op_id).find_elements(By.CSS_SELECTOR, ".try-out__btn"))
    block = driver.find_element(By.ID, op_id)
    block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
    for name, value in (fill or {}).items():
        field = block.find_element(By.CSS_SELECTOR, f"tr[data-param-name='{name}'] input")
        field.clear()
        field.send_keys(value)
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    cell = WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, op_id).find_elements(By.CSS_SELECTOR, ".live-responses-table tbody td.response-col_status"))
    return cell[0].text.strip()


def test_try_it_out_answers_from_the_running_server(docs_stack, browser):
    open_docs(browser, docs_stack.base_url)
    assert try_it_out(browser, "operations-Health-v2_ready") == "200"
    assert try_it_out(browser, "operations-V2-v2_infer", {"model_name": "echo"}) == "200"
    block = browser.find_element(By.ID, "operations-V2-v2_infer")
    body = block.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_description pre").text
    answer = json.loads(body)
    assert answer["model_name"] == "echo" and answer["outputs"][0]["data"] == [1.5, 2.5], body
    assert try_it_out(browser, "operations-V1-v1_predict", {"model_name": "echo"}) == "200"


def test_docs_assets_are_served_with_their_types(docs_stack):
    api = u.Api(docs_stack.base_url)
    js = api.get("/docs/swagger-ui-bundle.js")
    assert js.status_code == 200 and u.media_type(js) == "application/javascript" and b"SwaggerUIBundle" in js.content
    css = api.get("/docs/swagger-ui.css")
    assert css.status_code == 200 and u.media_type(css) == "text/css"
    page = api.get("/docs")
    assert page.status_code == 200 and u.media_type(page) == "text/html"
    assert "https://" not in page.text and "http://" not in page.text
    u.expect_error(api.get("/docs/nope.js"), 404)


def test_enable_docs_url_without_the_files_stops_the_start(make_stack, tmp_path):
    empty = tmp_path / "no-swagger"
    empty.mkdir()

    def cfg(c):
        c["http"]["enable_docs_url"] = True
        c["http"]["docs_assets"] = str(empty)
    s = make_stack(config=cfg, start=False)
    s.spawn()
    assert s.proc.wait(timeout=30) != 0
    s.stopped = s.proc.returncode  # it never started: nothing to stop
    text = s.log_text()
    assert "swagger-ui-bundle.js" in text and str(empty) in text and "make deps" in text, text
