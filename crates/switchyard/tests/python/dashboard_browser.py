"""The dashboard of a running `switchyard run`, in headless Chromium through Selenium.

Run by tests/dashboard_browser_cli.rs, which starts the fake Discord and the gateway. Checks,
as a person at the page would see them: the shard count; the events/s chart moving while the
fake sends load; a shard whose connection the fake drops shown resuming, then active again; a
service's SHUTDOWN button reaching the service; no serious or critical axe-core violation;
no horizontal overflow at 1280x800 and 390x844. Saves screenshots in --shots.
Exits non-zero with the reason on the first check that fails.
"""

import argparse
import json
import os
import sys
import time
import urllib.request

import redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

WAIT_S = 60


def log(msg):
    print(f"[dashboard_browser] {msg}", flush=True)


def until(what, check, secs=WAIT_S):
    """Polls `check` until it returns something truthy; fails naming `what`."""
    deadline = time.monotonic() + secs
    while True:
        try:
            value = check()
        except Exception as e:  # a stale element while the page redraws: ask again
            value = None
            last_error = e
        else:
            last_error = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {secs} s (last error: {last_error})")
        time.sleep(0.2)


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def get_json(url):
    with urllib.request.urlopen(url, timeout=10) as res:
        return json.load(res)


def viewport(driver, width, height, mobile):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})
    # let the layout settle on the new size (two animation frames)
    driver.execute_async_script(
        "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(done));")


def overflow(driver):
    return driver.execute_script("""
        const doc = document.documentElement;
        const wide = Array.from(document.querySelectorAll('body *'))
            .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                      && !e.closest('.table-wrap') && getComputedStyle(e).position !== 'fixed')
            .slice(0, 5).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className);
        return {scroll: doc.scrollWidth, inner: window.innerWidth, wide: wide};
    """)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--resp", required=True)
    ap.add_argument("--axe", required=True)
    ap.add_argument("--shots", required=True)
    ap.add_argument("--shards", type=int, required=True)
    ap.add_argument("--chromium", required=True)
    ap.add_argument("--chromedriver", required=True)
    args = ap.parse_args()
    base = f"http://{args.admin}"

    options = webdriver.ChromeOptions()
    options.binary_location = args.chromium
    for flag in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1280,800", "--no-first-run", "--disable-extensions"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=args.chromedriver))
    try:
        run(driver, args, base)
    finally:
        driver.quit()
    log("all checks passed")


def run(driver, args, base):
    viewport(driver, 1280, 800, False)
    driver.get(base + "/")
    assert driver.title == "Switchyard dashboard", driver.title
    until("the stream going live",
          lambda: driver.find_element(By.ID, "conn").get_attribute("data-state") == "live")

    # keyboard: the first Tab reaches the skip link
    ActionChains(driver).send_keys(Keys.TAB).perform()
    focused = driver.switch_to.active_element
    assert focused.get_attribute("class") == "skip", focused.get_attribute("outerHTML")

    # the shard count, and every shard active
    bot = until("a bot's shards on the page",
                lambda: driver.find_element(By.CSS_SELECTOR, "#bots [data-bot]"))
    assert bot.get_attribute("data-shard-count") == str(args.shards), bot.get_attribute("data-shard-count")
    heading = bot.find_element(By.TAG_NAME, "h3").text
    assert f"{args.shards} shards" in heading, heading
    until(f"{args.shards} active shard rows", lambda: len(driver.find_elements(
        By.CSS_SELECTOR, "#bots tr[data-shard][data-state='active']")) == args.shards)
    log(f"shards shown: {heading}")

    # load from the fake: the events/s chart moves
    post(args.sim + "/_sim/load", {"rate": 200})
    chart = driver.find_element(By.ID, "events-chart")
    until("the events/s chart showing load",
          lambda: float(chart.get_attribute("data-latest") or 0) > 0)
    line = lambda: driver.find_element(By.CSS_SELECTOR, "#events-chart polyline").get_attribute("points")
    first = until("a line on the events/s chart", line)
    until("the events/s chart moving", lambda: line() != first)
    log(f"events/s chart moves (latest {chart.get_attribute('data-latest')}/s)")
    driver.save_screenshot(os.path.join(args.shots, "load-1280x800.png"))

    # a fault: the fake drops shard 1's connection; the page shows it resuming, then active
    status = get_json(base + "/status")
    shard = next(s for s in status["gateway"]["shards"] if s["id"] == args.shards - 1)
    hit = post(args.sim + "/_sim/faults", {"type": "drop", "session_id": shard["session"]})
    assert hit.get("affected") == 1, hit
    sid = shard["id"]
    resumed = until(f"shard {sid} shown resuming in the recent changes", lambda: driver.find_elements(
        By.CSS_SELECTOR, f"#recent li[data-shard='{sid}'][data-state='resuming']"))
    at = int(resumed[0].get_attribute("data-at"))
    until(f"shard {sid} shown active again after resuming", lambda: any(
        int(li.get_attribute("data-at")) >= at for li in driver.find_elements(
            By.CSS_SELECTOR, f"#recent li[data-shard='{sid}'][data-state='active']")))
    until(f"shard {sid}'s row active", lambda: driver.find_element(
        By.CSS_SELECTOR, f"#bots tr[data-shard='{sid}']").get_attribute("data-state") == "active")
    log(f"shard {sid}: {resumed[0].text}")
    post(args.sim + "/_sim/load/stop", {})

    # an action: a service identifies, the SHUTDOWN button reaches it
    r = redis.Redis(host=args.resp.split(":")[0], port=int(args.resp.split(":")[1]))
    sub = r.pubsub()
    sub.subscribe("control.pybot")
    until("the subscription", lambda: sub.get_message(timeout=0.5))
    hello = {"s": "py/1", "t": "IDENTIFY", "d": {"opcode": 0, "name": "pybot", "instance": "py-1",
                                                "version": "0.3", "envelope_version": 1,
                                                "groups": [{"name": "pyworkers", "pattern": "inbound.>",
                                                            "kind": "queue"}]}}
    r.publish("control.gateway", json.dumps(hello))
    row = until("the service on the page", lambda: driver.find_element(
        By.CSS_SELECTOR, "#services tr[data-service='pybot']"))
    group = until("its worker group on the page", lambda: driver.find_element(
        By.CSS_SELECTOR, "#groups tr[data-group='pyworkers']"))
    assert "pybot/py-1" in group.text, group.text
    # accessibility (with every section filled): axe-core, injected from the test (nothing of it ships in the page)
    with open(args.axe, encoding="utf-8") as f:
        driver.execute_script(f.read())
    result = driver.execute_async_script(
        "const done = arguments[0]; axe.run(document).then(r => done(r.violations)).catch(e => done(String(e)));")
    assert isinstance(result, list), f"axe failed: {result}"
    bad = [v for v in result if v.get("impact") in ("serious", "critical")]
    for v in result:
        log(f"axe {v['impact']}: {v['id']}: {v['help']} ({len(v['nodes'])} nodes)")
    assert not bad, "axe-core: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad)

    button = row.find_element(By.CSS_SELECTOR, "button.danger")
    assert button.get_attribute("aria-label") == "Shut down pybot py-1"
    button.click()
    until("the confirmation", lambda: driver.switch_to.alert).accept()
    message = until("SHUTDOWN on control.pybot", lambda: next(
        (m for m in iter(lambda: sub.get_message(timeout=0.5), None)
         if m["type"] == "message" and b"SHUTDOWN" in m["data"]), None))
    log(f"the service got {message['data'][:80]!r}")
    until("the answer shown", lambda: "sent SHUTDOWN" in driver.find_element(By.ID, "action-result").text)
    until("the service gone from the page", lambda: not driver.find_elements(
        By.CSS_SELECTOR, "#services tr[data-service='pybot']"))

    # no horizontal overflow, on a laptop and on a phone
    for width, height, mobile in [(1280, 800, False), (390, 844, True)]:
        viewport(driver, width, height, mobile)
        seen = overflow(driver)
        path = os.path.join(args.shots, f"dashboard-{width}x{height}.png")
        driver.save_screenshot(path)
        log(f"{width}x{height}: scroll width {seen['scroll']}, viewport {seen['inner']}; screenshot {path}")
        assert seen["scroll"] <= seen["inner"], f"horizontal overflow at {width}x{height}: {seen}"


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"[dashboard_browser] FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
