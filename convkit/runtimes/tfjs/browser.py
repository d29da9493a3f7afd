"""TF.js in a real browser: headless Chromium runs each model from a page served on 127.0.0.1.

A ``BrowserSession`` is a host for ``TfjsRunner``: it starts an HTTP server on
an ephemeral port of 127.0.0.1 that serves the page (``tfjs_page.html``), the
TF.js bundles from ``node_modules``, and for each model only ``model.json`` and
the shards its manifest names (already vetted by ``check_shards``), each under a
random path. Chromium is the system's (Debian's ``chromium``), driven by the
Python ``playwright`` package with ``executable_path`` set, so nothing is
downloaded. One tab per backend; input tensors are fetched and output tensors
posted back as raw bytes. ``close`` stops the browser and the server.
``screenshot`` draws any self-contained page as PNG with the same Chromium
(the PNG pictures of ``convkit inspect --graph``).

Headless Chromium without a GPU runs WebGL 2 on SwiftShader, its software
renderer, with float32 textures; ``webgl-f16`` forces float16 textures as many
phones' GPUs do.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import numpy as np

from convkit.errors import ReadError, RunError, UsageError
from convkit.runtimes.tfjs.install import find_node_root
from convkit.runtimes.tfjs.protocol import pack_tensors, unpack_tensors

BROWSERS = ("chromium",)
PLAYWRIGHT_VERSION = "1.65.2"
SETUP_HINT = ("run 'make setup-browser' in the convkit checkout (it runs 'apt-get install chromium' and "
              f"'pip install playwright=={PLAYWRIGHT_VERSION}'), or set CONVKIT_CHROMIUM to a Chromium executable")
# No network here and none wanted: without these, Chromium keeps reaching for update and sync servers.
CHROMIUM_FLAGS = (
    "--enable-unsafe-swiftshader",  # WebGL on the software renderer when there is no GPU
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
    "--no-default-browser-check",
)
PAGE_TIMEOUT_SECONDS = 60
RUN_TIMEOUT_SECONDS = 1800
MAX_UPLOAD_BYTES = 4 * 1024**3
_STATIC = Path(__file__).resolve().parent
_PAGE_FILES = {"/page.html": "tfjs_page.html", "/convkit/tfjs_page.mjs": "tfjs_page.mjs",
               "/convkit/tfjs_model.mjs": "tfjs_model.mjs"}
_BUNDLES = {"/tfjs/tf.min.js": ("tfjs", "tf.min.js")}
_WASM_FILES = ("tf-backend-wasm.min.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
               "tfjs-backend-wasm-threaded-simd.wasm")
_TYPES = {".html": "text/html; charset=utf-8", ".mjs": "text/javascript", ".js": "text/javascript",
          ".wasm": "application/wasm", ".json": "application/json"}


def find_chromium() -> str | None:
    """The Chromium executable: ``CONVKIT_CHROMIUM``, else ``chromium`` on PATH, else ``None``."""
    given = os.environ.get("CONVKIT_CHROMIUM")
    if given:
        return given if Path(given).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def browser_missing(browser: str = "chromium") -> str | None:
    """Why ``browser`` cannot run TF.js here (with what to do), or ``None`` when it can."""
    if browser not in BROWSERS:
        return f"unknown browser {browser!r}; convkit runs TF.js in {', '.join(BROWSERS)}"
    return chromium_missing(f"--browser {browser}")


def chromium_missing(needed_by: str) -> str | None:
    """Why headless Chromium cannot be driven here, as a sentence starting with ``needed_by`` (what needs it)
    and saying what to install, or ``None`` when it can."""
    if find_chromium() is None:
        return f"{needed_by} needs Chromium, which is not installed; {SETUP_HINT}"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return f"{needed_by} drives Chromium with the Python package playwright, which is not installed; {SETUP_HINT}"
    return None


def launch_chromium(playwright: Any) -> Any:
    """Headless Chromium (the system's, with convkit's flags: nothing downloaded, nothing reached for),
    launched by a started ``playwright``; raises playwright's ``Error`` when it does not start."""
    # playwright gives each launch a fresh temporary profile and, as root, --no-sandbox.
    return playwright.chromium.launch(executable_path=find_chromium(), headless=True, args=list(CHROMIUM_FLAGS),
                                      timeout=PAGE_TIMEOUT_SECONDS * 1000)


def screenshot(page_html: str, *, width: int, height: int, pixel_ratio: float = 1.0) -> bytes:
    """The PNG of the self-contained page ``page_html`` in a ``width`` x ``height`` viewport, drawn by headless
    Chromium at ``pixel_ratio`` device pixels per CSS pixel (the whole page, where it is longer).

    Chromium runs in a thread of its own with its own playwright driver: playwright's sync API refuses to run
    where an event loop runs (a notebook, a test's browser), and a check run's driver belongs to its thread.

    Raises:
        UsageError: Chromium or playwright is missing.
        RunError: Chromium did not start or could not draw the page.
    """
    reason = chromium_missing("a screenshot")
    if reason is not None:
        raise UsageError(reason)
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    result: dict[str, Any] = {}

    def draw() -> None:
        playwright: Any = None
        try:
            playwright = sync_playwright().start()
            browser = launch_chromium(playwright)
            try:
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=pixel_ratio)
                page.set_content(page_html, wait_until="load")
                result["png"] = bytes(page.screenshot(type="png", full_page=True))
            finally:
                browser.close()
        except PlaywrightError as error:
            result["error"] = str(error).splitlines()[0][:300]
        finally:
            if playwright is not None:
                playwright.stop()

    worker = threading.Thread(target=draw, name="convkit-screenshot")
    worker.start()
    worker.join()
    if "png" not in result:
        raise RunError(f"headless Chromium could not draw the page ({result.get('error', 'no picture')})")
    return bytes(result["png"])


class BrowserSession:
    """One headless Chromium and one local page server, shared by every TF.js model of a check run.

    Usable as a context manager; starts at the first ``run``.

    Args:
        browser: ``chromium`` (the only one: Firefox ESR headless has no WebGL).
        node_root: the folder whose ``node_modules`` holds @tensorflow/tfjs and
            @tensorflow/tfjs-backend-wasm. Default: ``find_node_root()``.
        progress: called with one line when the browser starts.
        timeout_seconds: the longest one model may run. Default 1800.
    """

    name = "Chromium"

    def __init__(self, browser: str = "chromium", *, node_root: Path | None = None,
                 progress: Callable[[str], None] | None = None, timeout_seconds: float = RUN_TIMEOUT_SECONDS) -> None:
        if browser not in BROWSERS:
            raise UsageError(f"unknown browser {browser!r}; convkit runs TF.js in {', '.join(BROWSERS)}")
        self.browser_name = browser
        self.node_root = Path(node_root) if node_root else None
        self.progress = progress or (lambda message: None)
        self.timeout_seconds = timeout_seconds
        self.version: str | None = None
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._playwright: Any = None
        self._browser: Any = None
        self._context: Any = None
        self._pages: dict[str, Any] = {}
        self._page_errors: list[str] = []
        self._routes: dict[str, Path] = {}
        self._blobs: dict[str, bytes] = {}
        self._uploads: dict[str, bytes | None] = {}
        self._models: dict[Path, str] = {}
        self._lock = threading.Lock()

    def ensure_available(self) -> None:
        """Raises ``UsageError`` naming what to install when Chromium or playwright is missing."""
        reason = browser_missing(self.browser_name)
        if reason is not None:
            raise UsageError(reason)
        self.node_root = self.node_root or find_node_root()
        wasm = self.node_root / "node_modules" / "@tensorflow" / "tfjs-backend-wasm" / "dist"
        if not (wasm / "tf-backend-wasm.min.js").is_file():
            raise UsageError(f"cannot find @tensorflow/tfjs-backend-wasm in {self.node_root / 'node_modules'}; "
                             "run 'npm ci' in the convkit checkout")

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        """Starts the page server and Chromium (done by the first ``run``)."""
        if self._browser is not None:
            return
        self.ensure_available()
        assert self.node_root is not None
        dist = self.node_root / "node_modules" / "@tensorflow"
        for route, name in _PAGE_FILES.items():
            self._routes[route] = _STATIC / name
        for route, (package, name) in _BUNDLES.items():
            self._routes[route] = dist / package / "dist" / name
        for name in _WASM_FILES:
            self._routes[f"/tfjs-wasm/{name}"] = dist / "tfjs-backend-wasm" / "dist" / name
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="convkit-page-server", daemon=True)
        self._thread.start()
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright

        executable = find_chromium()
        try:
            self._playwright = _Playwright.acquire(sync_playwright)
            self._browser = launch_chromium(self._playwright)
            self._context = self._browser.new_context()
        except PlaywrightError as error:
            self.close()
            raise UsageError(f"Chromium at {executable} did not start: {str(error).splitlines()[0][:300]}") from None
        self.version = self._browser.version
        self.progress(f"started headless Chromium {self.version}; TF.js page on {self.base_url}")

    def _page(self, backend: str) -> Any:
        page = self._pages.get(backend)
        if page is not None:
            return page
        page = self._context.new_page()
        page.on("pageerror", lambda error: self._page_errors.append(str(error).splitlines()[0]))
        page.on("console", lambda message: self._page_errors.append(message.text.splitlines()[0])
                if message.type == "error" else None)
        page.goto(f"{self.base_url}/page.html", timeout=PAGE_TIMEOUT_SECONDS * 1000)
        page.wait_for_function("window.convkitReady === true", timeout=PAGE_TIMEOUT_SECONDS * 1000)
        self._pages[backend] = page
        return page

    def _model_url(self, model_json: Path) -> str:
        """Serves ``model.json`` and the shards its manifest names under a random path; returns its URL."""
        model_json = Path(model_json).resolve()
        token = self._models.get(model_json)
        if token is None:
            token = secrets.token_hex(12)
            document = json.loads(model_json.read_text(encoding="utf-8"))
            with self._lock:
                self._routes[f"/models/{token}/model.json"] = model_json
                for group in document.get("weightsManifest") or []:
                    for relative in group.get("paths", []):
                        self._routes[f"/models/{token}/{relative}"] = (model_json.parent / relative).resolve()
            self._models[model_json] = token
        return f"/models/{token}/model.json"

    def run(self, model_json: Path, tensors: list[tuple[str, np.ndarray]], backend: str
            ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Runs ``model_json`` on ``backend`` in this session's tab for that backend."""
        from playwright.sync_api import Error as PlaywrightError

        self.start()
        token = secrets.token_hex(12)
        entries, data = pack_tensors(tensors)
        inputs_url, outputs_url = f"/jobs/{token}/inputs.bin", f"/jobs/{token}/outputs.bin"
        with self._lock:
            self._blobs[inputs_url] = data
            self._uploads[outputs_url] = None
        job = {"backend": backend, "model": self._model_url(model_json), "inputs": inputs_url,
               "outputs": outputs_url, "inputHeader": {"tensors": entries}}
        self._page_errors.clear()
        try:
            page = self._page(backend)
            answer = page.evaluate(
                """([job, ms]) => Promise.race([window.convkitRun(job), new Promise((resolve) =>
                       setTimeout(() => resolve({ok: false, error: `no answer within ${ms / 1000} s`}), ms))])""",
                [job, int(self.timeout_seconds * 1000)],
            )
        except PlaywrightError as error:
            detail = "; ".join([str(error).splitlines()[0], *self._page_errors])[:400]
            raise RunError(f"{model_json}: TF.js could not run the model in Chromium ({detail})") from None
        finally:
            with self._lock:
                self._blobs.pop(inputs_url, None)
                uploaded = self._uploads.pop(outputs_url, None)
        if not answer.get("ok"):
            raise RunError(f"{model_json}: TF.js could not run the model in Chromium ({str(answer.get('error'))[:400]})")
        header = answer["header"]
        if uploaded is None:
            raise ReadError(f"{model_json}: the page did not send the model's outputs back")
        return header, unpack_tensors(header["tensors"], uploaded)

    def close(self) -> None:
        """Stops Chromium and the page server."""
        for closing in (self._context, self._browser):
            if closing is not None:
                try:
                    closing.close()
                except Exception:  # noqa: BLE001 - a browser that already died needs no closing
                    pass
        if self._playwright is not None:
            _Playwright.release()
        self._context = self._browser = self._playwright = None
        self._pages.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> BrowserSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Playwright:
    """One playwright driver per process, shared by the sessions open at once (its sync API allows one per thread)."""

    instance: Any = None
    users = 0

    @classmethod
    def acquire(cls, start: Callable[[], Any]) -> Any:
        if cls.instance is None:
            cls.instance = start().start()
        cls.users += 1
        return cls.instance

    @classmethod
    def release(cls) -> None:
        cls.users -= 1
        if cls.users <= 0 and cls.instance is not None:
            instance, cls.instance, cls.users = cls.instance, None, 0
            instance.stop()


def _handler(session: BrowserSession) -> type[BaseHTTPRequestHandler]:
    class PageHandler(BaseHTTPRequestHandler):
        """Serves only what the session registered; takes uploads only at the paths it expects."""

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            route = unquote(urlsplit(self.path).path)
            with session._lock:
                blob = session._blobs.get(route)
                path = session._routes.get(route)
            if blob is not None:
                self._send(200, blob, "application/octet-stream")
            elif path is not None and path.is_file():
                self._send(200, path.read_bytes(), _TYPES.get(path.suffix, "application/octet-stream"))
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:  # noqa: N802 - the base class's name
            route = unquote(urlsplit(self.path).path)
            length = int(self.headers.get("Content-Length") or 0)
            with session._lock:
                expected = route in session._uploads and session._uploads[route] is None
            if not expected or not 0 <= length <= MAX_UPLOAD_BYTES:
                self._send(404 if not expected else 413, b"refused", "text/plain")
                return
            body = self.rfile.read(length)
            with session._lock:
                session._uploads[route] = body
            self._send(200, b"ok", "text/plain")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

    return PageHandler
