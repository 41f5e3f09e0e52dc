"""``symdiff serve`` end to end: the real server on a free loopback port, driven in Debian's headless Chromium
by Selenium, as a user types, submits, reads and downloads.

SYMDIFF_SCREENSHOTS=DIR keeps the screenshots (README's docs/serve.png is the result page's) and the times
from submit to rendered result (serve-timings.json) there."""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_serve import assert_linear_regression_module

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
LINEAR = ("sum((X @ W + b - Y)**2) / q", "X=q,n W=n,p b=1,p Y=q,p", "W b")
BATCHNORM = ("sum((batchnorm(X, gamma, beta) - Y)**2)", "X=B,p gamma=1,p beta=1,p Y=B,p", "X gamma beta")
HOSTILE = "__import__('os').system('touch {marker}')"
SLOW = ("sum(softmax(softmax(softmax(X @ W, axis=1) @ W, axis=1) @ W, axis=1))", "X=n,n W=n,n", "W")
TIME_LIMIT = 15  # the linear regression takes 3 s, the slow input minutes


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    if not CHROMIUM or not DRIVER:
        return "chromium or chromedriver not found (Debian: apt-get install -y chromium chromium-driver)"
    return None


@pytest.fixture(scope="module")
def server():
    """``symdiff serve --port 0`` (any free port) on 127.0.0.1, with a short time limit; its address."""
    missing = _missing()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the page in a browser; {missing}")
        pytest.skip(missing)
    command = [sys.executable, "-m", "symdiff.cli", "serve", "--port", "0", "--time-limit", str(TIME_LIMIT)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    match = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
    assert match, f"symdiff serve printed {line!r}"
    yield f"http://127.0.0.1:{match.group(1)}/"
    process.terminate()
    process.wait(30)


@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(server, downloads):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    yield driver
    driver.quit()


def _keep() -> Path | None:
    folder = os.environ.get("SYMDIFF_SCREENSHOTS")
    return Path(folder) if folder else None


def submit(browser, server, expression: str, shapes: str, wrt: str, wanted: str, seconds: float = 120) -> float:
    """Type the input into the form, submit it, wait for the new page (a result, an error or a stop), and assert
    that it has ``wanted`` (a CSS selector); the seconds from the click to the rendered page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server)
    for field, value in (("expr", expression), ("shapes", shapes), ("wrt", wrt)):
        element = browser.find_element(By.ID, field)
        element.clear()
        element.send_keys(value)
    started = time.perf_counter()
    browser.find_element(By.ID, "submit").click()
    answered = expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "#result, #stopped, p.error"))
    WebDriverWait(browser, seconds).until(answered)
    WebDriverWait(browser, 10).until(lambda b: b.execute_script("return document.readyState") == "complete")
    elapsed = time.perf_counter() - started
    found = browser.find_elements(By.CSS_SELECTOR, wanted)
    assert found, f"{expression}: no {wanted} on the page: {browser.find_element(By.TAG_NAME, 'main').text[:600]}"
    return elapsed


def test_linear_regression_typed_submitted_rendered_checked_and_downloaded(browser, server, downloads):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    seconds = {"linear regression": submit(browser, server, *LINEAR, "#overall")}
    text = browser.find_element(By.ID, "result").text
    assert "2/q * X.T @ (X @ W + b - Y)" in text and "2/q * sum(X @ W + b - Y, axis=0)" in text
    assert browser.find_element(By.ID, "overall").text == "PASS"
    math = browser.find_element(By.CSS_SELECTOR, ".forms .math math")  # rendered: MathML laid out
    assert math.size["width"] > 40 and math.size["height"] > 15
    fraction = browser.find_element(By.CSS_SELECTOR, ".forms .math mfrac")
    assert fraction.size["height"] > math.size["height"] * 0.5  # 2/q set as a fraction, not as text
    # pointing at a line of the backward lights up its step in the document, and the reverse
    line = browser.find_element(By.CSS_SELECTOR, "#pre-torch .line[data-step='1']")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", line)
    ActionChains(browser).move_to_element(line).perform()
    assert "linked-on" in browser.find_element(By.ID, "step-1").get_attribute("class")
    step = browser.find_element(By.ID, "step-2")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", step)
    ActionChains(browser).move_to_element(step).perform()
    lit = browser.find_elements(By.CSS_SELECTOR, "#pre-torch .line.linked-on")
    assert lit and all("2" in e.get_attribute("data-step").split() for e in lit)
    keep = _keep()
    if keep:
        keep.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(keep / "serve-steps.png"))
        ActionChains(browser).move_to_element(browser.find_element(By.TAG_NAME, "header")).perform()
        browser.execute_script("window.scrollTo(0, 0)")
        browser.save_screenshot(str(keep / "serve.png"))
    # the download, as the browser saves it, imports and agrees with torch autograd of the loss written here
    browser.find_element(By.CSS_SELECTOR, "#code-torch a.download").click()
    deadline = time.time() + 30
    while not list(downloads.glob("*.py")) and time.time() < deadline:
        time.sleep(0.2)
    [path] = list(downloads.glob("*.py"))
    assert_linear_regression_module(path)
    seconds["batchnorm"] = submit(browser, server, *BATCHNORM, "#overall")
    assert browser.find_element(By.ID, "overall").text == "PASS"
    print("submit to rendered result, s:", {k: round(v, 2) for k, v in seconds.items()})
    if keep:
        (keep / "serve-timings.json").write_text(json.dumps(seconds, indent=1))


def test_hostile_input_is_refused_beside_the_expression_and_the_server_goes_on(browser, server, tmp_path):
    from selenium.webdriver.common.by import By

    marker = tmp_path / "pwned"
    submit(browser, server, HOSTILE.format(marker=marker), "", "X", "#expr-error")
    assert "double underscores" in browser.find_element(By.ID, "expr-error").text
    assert browser.find_element(By.CSS_SELECTOR, "#expr-highlight mark").text == "__import__"
    assert "invalid" in browser.find_element(By.ID, "expr").get_attribute("class")
    assert not marker.exists()
    submit(browser, server, *LINEAR, "#overall")
    assert browser.find_element(By.ID, "overall").text == "PASS"


def test_slow_input_is_stopped_and_the_server_goes_on(browser, server):
    from selenium.webdriver.common.by import By

    seconds = submit(browser, server, *SLOW, "#stopped", seconds=TIME_LIMIT + 60)
    assert f"stopped after {TIME_LIMIT} s" in browser.find_element(By.ID, "stopped").text
    assert seconds < TIME_LIMIT + 30
    submit(browser, server, *LINEAR, "#overall")
    assert browser.find_element(By.ID, "overall").text == "PASS"
