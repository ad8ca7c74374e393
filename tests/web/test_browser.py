"""The web companion in a real browser: Debian's Chromium, headless, driven by Playwright.

The server is exactly what a README reader starts, ``riffbot web --demo``, in a subprocess on
a free loopback port. Checked: the radio page draws (canvas pixels change, in 3D and in the
2D fallback), its audio starts on a click and plays 10 s without a stall across clip changes,
the gallery lists jobs and plays one, "copy as /riff command" copies, a foreign token gets 404,
and the page reconnects after the server restarts. Screenshots go to a temporary folder, or to
``$RIFFBOT_WEB_SCREENSHOTS`` (the README's come from ``RIFFBOT_WEB_SCREENSHOTS=docs``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = next(
    (
        p
        for p in (os.environ.get("RIFFBOT_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium")
        if p and Path(p).is_file()
    ),
    None,
)
try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the dev extra installs it
    sync_playwright = None  # type: ignore[assignment]

if CHROMIUM is None or sync_playwright is None:
    pytest.skip(
        "no browser: install Debian's chromium (apt-get install chromium chromium-driver; "
        ".ci/run does) and the dev extra (playwright)",
        allow_module_level=True,
    )

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",  # WebGL on the CPU, since there is no GPU
]
SECRET = "browser-test-link-secret-0123456789"
START_S = 90.0  # safety nets against hangs, never synchronisation
PLAY_MS = 30_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DemoServer:
    """``riffbot web --demo`` in a subprocess; ``restart`` keeps the port and the secret."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = dict(os.environ, RIFFBOT_WEB_LINK_SECRET=SECRET, PYTHONUNBUFFERED="1")
        code = "import sys; from riffbot.cli import main; sys.exit(main(sys.argv[1:]))"
        args = ["web", "--demo", "--host", "127.0.0.1", "--port", str(self.port)]
        args += ["--demo-dir", str(self.directory)]  # a restart keeps the jobs, as a bot's does
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=Path(__file__).resolve().parents[2],
        )
        ready = threading.Event()
        lines: list[str] = []

        def watch() -> None:
            assert self.proc is not None
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                lines.append(line)
                if "demo on http://" in line:
                    ready.set()
            ready.set()

        threading.Thread(target=watch, daemon=True).start()
        if not ready.wait(START_S) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError("riffbot web --demo did not start:\n" + "".join(lines))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    demo = DemoServer(free_port(), tmp_path_factory.mktemp("demo"))
    demo.start()
    yield demo
    demo.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert sync_playwright is not None
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: DemoServer) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda e: errors.append(str(e)))
    yield tab
    context.close()
    assert errors == []


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("RIFFBOT_WEB_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def links(page: Page, server: DemoServer) -> dict[str, str]:
    page.goto(server.url + "/")
    return {
        a.inner_text(): server.url + str(a.get_attribute("href"))
        for a in page.query_selector_all("ul.links a")
    }


def canvas_pixels(page: Page) -> str:
    return str(page.evaluate("document.querySelector('#timeline, canvas').toDataURL()"))


def watch_audio(page: Page) -> None:
    page.evaluate(
        """() => {
          const a = document.getElementById('audio');
          window.stalls = 0;
          a.addEventListener('waiting', () => { if (a.currentTime > 0.5) window.stalls += 1; });
        }"""
    )


def current_time(page: Page) -> float:
    return float(page.evaluate("document.getElementById('audio').currentTime"))


def test_radio_draws_in_3d_and_plays_ten_seconds_without_a_stall(
    page: Page, server: DemoServer, shots: Path
) -> None:
    page.goto(links(page, server)["Demo radio"])
    page.wait_for_function("() => document.getElementById('view-mode').textContent !== 'loading'")
    assert page.get_attribute("#timeline", "data-mode") == "3d"
    assert page.inner_text("#now") != ""
    assert "jazzy piano trio" in page.inner_text("#queue")
    watch_audio(page)
    assert current_time(page) == 0.0  # nothing plays before the click (autoplay rules)
    page.click("#play")
    page.wait_for_function(
        "() => document.getElementById('audio').currentTime > 0.2", timeout=PLAY_MS
    )
    before = canvas_pixels(page)
    start = current_time(page)
    clips_before = page.evaluate(
        "fetch(document.getElementById('radio').dataset.base + "
        "'/now.json').then(r => r.json()).then(j => j.clips.length)"
    )
    page.wait_for_function(
        f"() => document.getElementById('audio').currentTime > {start + 10.0}", timeout=PLAY_MS
    )
    assert page.evaluate("window.stalls") == 0
    assert not page.evaluate("document.getElementById('audio').paused")
    assert canvas_pixels(page) != before  # the timeline scrolled with the sound
    clips_after = page.evaluate(
        "fetch(document.getElementById('radio').dataset.base + "
        "'/now.json').then(r => r.json()).then(j => j.clips.length)"
    )
    assert clips_after > clips_before  # a clip change happened while listening
    page.screenshot(path=str(shots / "web-radio.png"))


def test_radio_2d_fallback_draws(page: Page, server: DemoServer) -> None:
    page.goto(links(page, server)["Demo radio"] + "?view=2d")
    page.wait_for_function("() => document.getElementById('view-mode').textContent === '2D'")
    page.wait_for_function(
        "() => document.getElementById('radio').dataset.frame > 0", timeout=PLAY_MS
    )
    first = canvas_pixels(page)
    start = int(page.evaluate("Number(document.getElementById('radio').dataset.frame)"))
    page.wait_for_function(
        f"() => Number(document.getElementById('radio').dataset.frame) > {start + 50}",
        timeout=PLAY_MS,
    )
    assert canvas_pixels(page) != first


def test_gallery_lists_jobs_plays_one_and_copies_the_command(
    page: Page, server: DemoServer, shots: Path
) -> None:
    page.goto(links(page, server)["Demo gallery"])
    cards = page.query_selector_all("article.job")
    assert len(cards) >= 6
    assert "a job of another server" not in page.content()
    player = page.query_selector("article.job audio")
    assert player is not None
    box = player.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 20, box["y"] + box["height"] / 2)  # the play control
    page.wait_for_function(
        "() => document.querySelector('article.job audio').currentTime > 0.5", timeout=PLAY_MS
    )
    button = page.query_selector("article.job:has-text('more cowbell') button.copy")
    assert button is not None
    wanted = button.get_attribute("data-copy")
    button.click()
    page.wait_for_function("(b) => b.textContent === 'Copied'", arg=button)
    assert page.evaluate("navigator.clipboard.readText()") == wanted
    assert str(wanted).startswith("/riff prompt:funky bassline with a tight snare, more cowbell")
    page.screenshot(path=str(shots / "web-gallery.png"), full_page=False)
    page.click("article.job:has-text('more cowbell') a.permalink")  # a remix: a real tree
    page.wait_for_selector("section.lineage")
    assert "funky bassline with a tight snare" in page.inner_text("ol.ancestors")
    page.screenshot(path=str(shots / "web-job.png"), full_page=True)


def test_a_foreign_or_made_up_token_gets_404(page: Page, server: DemoServer) -> None:
    gallery = links(page, server)["Demo gallery"]
    token = gallery.rsplit("/", 1)[1]
    forged = token.split(".")[0][:-1] + "1." + token.split(".")[1]
    for url in (f"{server.url}/g/{forged}", f"{server.url}/g/madeup.token", gallery + "/job/7"):
        response = page.goto(url)
        assert response is not None
        assert response.status == 404, url
        assert page.inner_text("h1") == "Not found"


def test_the_radio_page_reconnects_after_a_server_restart(page: Page, server: DemoServer) -> None:
    page.goto(links(page, server)["Demo radio"])
    page.wait_for_function("() => document.getElementById('view-mode').textContent !== 'loading'")
    page.click("#play")
    page.wait_for_function(
        "() => document.getElementById('audio').currentTime > 0.5", timeout=PLAY_MS
    )
    first_src = page.get_attribute("#audio", "src")
    server.stop()
    server.start()
    # A new stream (the new server's epoch in its URL) plays on its own.
    page.wait_for_function(
        f"""() => {{
          const a = document.getElementById('audio');
          return a.src && !a.src.endsWith({first_src!r}) && a.currentTime > 1.0;
        }}""",
        timeout=PLAY_MS * 2,
    )
    assert page.inner_text("#conn") == "listening"
