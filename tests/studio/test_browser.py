"""The Studio in a real browser: Playwright (Python) drives Debian's chromium against a live
uvicorn server. Each view is used as a musician would and screenshotted into
test-artifacts/studio/ (git-ignored). Skipped when playwright or /usr/bin/chromium is missing.

The page's Content-Security-Policy forbids eval, so waits poll page values from Python
(page.evaluate is exempt) instead of page.wait_for_function.
"""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import pretty_midi
import pytest

from musicvae.inference.bundled import bundled_tunes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "studio"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]

pytestmark = pytest.mark.browser


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright (Python) is not installed")
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    return sync_playwright


@pytest.fixture(scope="module")
def drums_model_dir(tmp_path_factory):
    """A second model to switch to: a tiny untrained drum model folder."""
    from musicvae.builders import build_model
    from musicvae.configs import get_config
    from musicvae.inference.model_dir import save_model_dir

    config = get_config("debug-cat-drums_2bar")
    path = tmp_path_factory.mktemp("models") / "test-drums"
    save_model_dir(build_model(config), config, path, {"name": "test drums (untrained)"})
    return path


@pytest.fixture(scope="module")
def studio_url(drums_model_dir):
    """A live server offering the bundled melody model (default) and the drum model."""
    import threading

    _playwright()  # skip before starting anything when there is no browser

    import uvicorn

    from musicvae.studio.app import create_app
    from musicvae.studio.registry import ModelRegistry

    registry = ModelRegistry.from_paths()
    registry.add(drums_model_dir, "folder")
    server = uvicorn.Server(
        uvicorn.Config(create_app(registry), host="127.0.0.1", port=0, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}/"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(studio_url):
    sync_playwright = _playwright()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, accept_downloads=True
        )
        page = context.new_page()
        page.problems = []
        page.on("pageerror", lambda e: page.problems.append(f"page error: {e}"))
        page.on(
            "console",
            lambda m: m.type == "error" and page.problems.append(f"console: {m.text}"),
        )
        page.goto(studio_url)
        page.wait_for_selector("body[data-ready='1']", timeout=60000)
        yield page
        browser.close()


def until(page, expression: str, timeout: float = 60.0):
    """Poll a JS expression until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(f"() => {expression}")
        if value:
            return value
        if time.monotonic() > deadline:
            seen = page.evaluate(
                "() => [document.querySelector('#status').textContent, "
                "JSON.stringify({...window.studioBlend, slots: undefined, card: undefined, "
                "clip: undefined, codes: window.studioBlend.codes.map(Boolean)})]"
            )
            raise AssertionError(f"timed out waiting for {expression}; status, blend: {seen}")
        page.wait_for_timeout(100)


def shoot(page, name: str) -> None:
    page.wait_for_timeout(300)  # let canvases draw
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def drop_file(page, selector: str, path: Path) -> None:
    """Drop a file on an element as a file manager would (a DragEvent with a DataTransfer)."""
    page.evaluate(
        """([selector, bytes, name]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "audio/midi" }));
            const target = document.querySelector(selector);
            for (const type of ["dragenter", "dragover", "drop"]) {
                const init = { dataTransfer: transfer, bubbles: true };
                target.dispatchEvent(new DragEvent(type, init));
            }
        }""",
        [selector, list(path.read_bytes()), path.name],
    )


def tab(page, view: str) -> None:
    page.click(f".tabs button[data-view={view}]")
    until(page, f"document.body.dataset.view === '{view}'")


def test_generate_samples_and_plays(page):
    page.fill("#gen-n", "6")
    page.click("[data-testid=sample]")
    until(page, "document.querySelectorAll('#gen-results .clip').length === 6")
    page.locator("#gen-results [data-testid=play]").first.click()
    assert until(page, "window.studioAudio.state === 'running' && window.studioAudio.scheduled")
    until(page, "document.querySelector('#gen-results .clip.playing') !== null")
    page.locator("#gen-results [data-testid=keep]").nth(0).click()
    page.locator("#gen-results [data-testid=keep]").nth(3).click()
    assert page.inner_text("#shelf-count") == "2"
    shoot(page, "generate")


def test_midi_and_shelf_downloads_parse(page, tmp_path):
    clip = page.evaluate("() => document.querySelector('#gen-results .clip').clip")
    with page.expect_download() as info:
        page.locator("#gen-results [data-testid=midi]").first.click()
    path = tmp_path / "clip.mid"
    info.value.save_as(path)
    pm = pretty_midi.PrettyMIDI(str(path))
    got = sorted((n.pitch, round(n.start * 8), round(n.end * 8)) for n in pm.instruments[0].notes)
    want = sorted((n["pitch"], n["start"], n["end"]) for n in clip["notes"])
    assert got == want  # 120 qpm: 8 sixteenths per second
    with page.expect_download() as info:
        page.click("[data-testid=shelf-zip]")
    zipped = tmp_path / "shelf.zip"
    info.value.save_as(zipped)
    names = zipfile.ZipFile(io.BytesIO(zipped.read_bytes())).namelist()
    assert sorted(n.rsplit(".", 1)[1] for n in names) == ["mid", "mid", "png", "png"]


def test_interpolate_between_an_uploaded_window_and_a_sample(page):
    tab(page, "interpolate")
    page.set_input_files("#slot-int-a [data-testid=upload]", str(bundled_tunes()[0]))
    until(page, "document.querySelectorAll('#slot-int-a select.windows option').length > 10")
    label = page.locator("#slot-int-a select.windows option").nth(3).inner_text()
    assert " bars " in label
    page.select_option("#slot-int-a select.windows", index=3)
    until(page, f"document.querySelector('#slot-int-a .clip-title b')?.textContent === {label!r}")
    page.click("#slot-int-b [data-testid=slot-sample]")
    until(page, "document.querySelector('#slot-int-b .clip') !== null")
    page.fill("#int-steps", "5")
    page.click("[data-testid=interpolate]")
    until(page, "document.querySelectorAll('#int-results .clip').length === 5")
    before = page.evaluate("() => window.studioAudio.scheduled")
    page.click("[data-testid=play-path]")
    until(page, f"window.studioAudio.scheduled > {before}")
    until(page, "document.querySelector('#int-results .clip.playing') !== null")
    shoot(page, "interpolate")


def test_blend_pad_follows_the_dragged_point(page):
    tab(page, "blend")
    page.click("[data-testid=blend-fill]")
    until(page, "window.studioBlend.codes.every(Boolean) && window.studioBlend.requests > 0")
    drop_file(page, "#slot-blend-3", bundled_tunes()[1])  # drag and drop a MIDI file on a corner
    until(page, "document.querySelectorAll('#slot-blend-3 select.windows option').length > 5")
    assert " bars 1-2" in page.inner_text("#slot-blend-3 .clip-title b")
    until(page, "window.studioBlend.codes.every(Boolean)")
    page.click("[data-testid=blend-play]")
    until(page, "window.studioAudio.playing")
    requests = page.evaluate("() => window.studioBlend.requests")
    box = page.locator("[data-testid=pad]").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    for k in range(1, 9):
        page.mouse.move(
            box["x"] + box["width"] * (0.5 - 0.05 * k), box["y"] + box["height"] * (0.5 - 0.05 * k)
        )
        page.wait_for_timeout(60)
    page.mouse.up()
    until(page, f"window.studioBlend.requests > {requests} && !window.studioBlend.inFlight")
    until(page, "!window.studioBlend.pending && !window.studioBlend.inFlight")
    x, y = page.evaluate("() => [window.studioBlend.x, window.studioBlend.y]")
    assert x == pytest.approx(0.1, abs=0.02) and y == pytest.approx(0.1, abs=0.02)
    label = page.inner_text("#blend-out .clip-title b")
    assert label.startswith("blend (0.1")
    assert page.evaluate("() => window.studioAudio.playing")  # still looping the new mix
    shoot(page, "blend")
    page.click("#stop-all")


def test_attributes_slider_redecodes_on_release(page):
    tab(page, "attributes")
    page.set_input_files("#slot-attr [data-testid=upload]", str(bundled_tunes()[1]))
    until(page, "document.querySelector('#attr-result table') !== null")
    page.fill("[data-testid=attr-note_density]", "2.5")  # fires input and change (release)
    until(page, "document.querySelector('#attr-result .clip-title b')?.textContent.includes('2.5')")
    rows = page.locator("#attr-result table tr").count()
    assert rows == 6  # header + five attributes
    shoot(page, "attributes")


def test_models_view_switches_models(page):
    tab(page, "models")
    assert page.locator("[data-testid=model-card]").count() == 3  # test drums + both bundled
    shoot(page, "models")
    page.click("[data-testid=use-test-drums]")
    until(page, "document.body.dataset.model === 'test-drums'")
    assert page.input_value("[data-testid=model-select]") == "test-drums"
    tab(page, "generate")
    page.click("[data-testid=sample]")
    clip = until(page, "document.querySelector('#gen-results .clip')?.clip")
    assert clip["model"] == "test-drums" and clip["kind"] == "drums"
    assert all(n["is_drum"] for n in clip["notes"])
    tab(page, "attributes")
    assert "no attribute vectors" in page.inner_text("#attr-sliders")
    page.select_option("[data-testid=model-select]", "folk-mel_2bar")
    until(page, "document.body.dataset.model === 'folk-mel_2bar'")
    tab(page, "generate")
    page.select_option("[data-testid=gen-bars]", "4")  # a flat decoder decodes longer melodies
    page.fill("#gen-n", "1")
    page.click("[data-testid=sample]")
    assert until(page, "document.querySelector('#gen-results .clip')?.clip.steps") == 64
    # the bundled hierarchical model samples 16 bars
    page.select_option("[data-testid=model-select]", "folk-mel_16bar")
    until(page, "document.body.dataset.model === 'folk-mel_16bar'")
    page.fill("#gen-n", "1")
    page.click("[data-testid=sample]")
    clip = until(
        page,
        "[...document.querySelectorAll('#gen-results .clip')].map(e => e.clip)"
        ".find(c => c.model === 'folk-mel_16bar')",
    )
    assert clip["steps"] == 256 and clip["notes"]
    shoot(page, "generate-16bar")


def test_no_errors_in_the_page(page):
    assert page.problems == []
