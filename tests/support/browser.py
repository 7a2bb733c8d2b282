"""Drives Debian's headless Chromium through a student's browser workspace (JupyterLab) and the teacher's
dashboard, keeping a numbered screenshot of every step as the test's artifacts.

    artifacts = artifacts_fixture()                      # in a test module: artifacts/<test name>/

    def test_workspace(artifacts: Path) -> None:
        with chromium(artifacts) as browser:
            browser.open(f"http://{host}:{port}/s01/lab?token={token}")   # sets the login cookie
            browser.wait_lab_ready()
            browser.screenshot("login")                  # artifacts/<test name>/01-login.png
            browser.open_terminal()
            browser.terminal_run("vwclass plugin run ...", expect="...", timeout=120)
            browser.screenshot("terminal")               # 02-terminal.png
            browser.new_notebook()
            assert browser.run_cell("print(6*7)", expect="42") == "42"
            browser.screenshot("notebook")               # 03-notebook.png
            browser.open(f"http://{host}:{port}/dashboard/")
            assert "s01" in browser.wait_text("table", "s01")

Selenium talks to Debian's /usr/bin/chromedriver (the `browser` group of vwclass.testenv.syspackages), so
Selenium Manager never runs and nothing is downloaded. Any wait that times out saves `NN-failure-<step>.png`
(with the page's HTML and console beside it) and raises AssertionError with the text it was waiting in.

How JupyterLab 4.4 is read and typed into:
- Its terminal (xterm.js) paints on a WebGL or 2D canvas: no text in the DOM. The terminal's documented
  "screenReaderMode" setting adds xterm's accessibility tree: one DOM row with its text per screen row,
  what a screen reader reads. `open_terminal()` turns that setting on for the user
  (once: it persists in the workspace's user settings) and reloads the page, then types into xterm's
  `.xterm-helper-textarea` with real key events.
- A notebook cell is CodeMirror 6: typed key by key, its auto-indent and bracket closing would change the
  code. The code goes in as one text insertion (CDP Input.insertText: what an IME or a paste does), then
  Shift+Enter runs the cell as a student would.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest
from selenium import webdriver
from selenium.common.exceptions import (
    NoSuchElementException,
    StaleElementReferenceException,
    WebDriverException,
)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.command import Command
from selenium.webdriver.remote.webelement import WebElement

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WINDOW = (1400, 1000)
POLL = 0.1
# How much of the page's visible text a failure message quotes.
EXCERPT = 2000

T = TypeVar("T")

# The terminal settings' plugin id, and what turns xterm's DOM rows on.
TERMINAL_SETTINGS = "@jupyterlab/terminal-extension:plugin"
_ENSURE_SCREEN_READER = """
const [plugin, done] = [arguments[0], arguments[arguments.length - 1]];
(async () => {
  const config = JSON.parse(document.getElementById('jupyter-config-data').textContent);
  const url = config.baseUrl + 'lab/api/settings/' + plugin;
  const got = await fetch(url, {credentials: 'same-origin'});
  if (!got.ok) return 'GET ' + url + ': ' + got.status;
  const current = await got.json();
  const user = current.settings || {};
  const fallback = ((current.schema || {}).properties || {}).screenReaderMode || {};
  if ((user.screenReaderMode ?? fallback.default) === true) return 'on';
  const xsrf = decodeURIComponent((document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || '');
  const put = await fetch(url, {
    method: 'PUT', credentials: 'same-origin',
    headers: {'Content-Type': 'application/json', 'X-XSRFToken': xsrf},
    body: JSON.stringify({raw: JSON.stringify({...user, screenReaderMode: true}, null, 2)}),
  });
  return put.ok ? 'set' : 'PUT ' + url + ': ' + put.status + ' ' + await put.text();
})().then(done, error => done('error: ' + error));
"""
# The text of each of the terminal's screen rows (xterm's accessibility tree); null before xterm renders.
_TERMINAL_ROWS = """
const terminal = document.getElementById(arguments[0]);
if (!terminal) return null;
const rows = terminal.querySelectorAll('.xterm-accessibility-tree > [role=listitem]');
return [...rows].map(row => row.textContent.replace(/\\u00a0/g, ' ').replace(/\\s+$/, ''));
"""
_CELL_STATE = """
const cell = arguments[0];
const prompt = cell.querySelector('.jp-InputPrompt');
return [
  prompt ? prompt.textContent : '',
  [...cell.querySelectorAll('.jp-OutputArea-output')].map(output => output.innerText.replace(/\\s+$/, '')),
];
"""
# [kernel name, kernel status] from a notebook's toolbar: "No Kernel" (with status "idle"!) until its
# session exists, then initializing, connecting, busy, idle.
_KERNEL = """
const panel = document.getElementById(arguments[0]);
const name = panel && panel.querySelector('.jp-Toolbar-kernelName');
const status = panel && panel.querySelector('.jp-Notebook-ExecutionIndicator');
return [name ? name.textContent.trim() : '', status ? status.getAttribute('data-status') || '' : ''];
"""
# What CodeMirror holds (null where its view is not reachable from the DOM).
_EDITOR_TEXT = """
const view = arguments[0].cmView;
return view && view.view ? view.view.state.doc.toString() : null;
"""
# The id of the main-area (dock panel) widget holding the element with this id, whose tab selects it.
_DOCK_WIDGET = """
const element = document.getElementById(arguments[0]);
const widget = element && element.closest('.lm-DockPanel-widget');
return widget ? widget.id : null;
"""
_READY = """
return !document.getElementById('jupyterlab-splash')
  && !!document.querySelector('.jp-LabShell #jp-main-dock-panel')
  && !!document.querySelector('#jp-menu-panel .lm-MenuBar-item');
"""


def _squash(text: str) -> str:
    """Text without whitespace: xterm drops a screen row's trailing spaces, so a wrapped line may lose one."""
    return re.sub(r"\s+", "", text)


def _id(name: str) -> str:
    """A CSS selector for the element with this id (Lumino's ids are not always valid #identifiers)."""
    return f"[id={json.dumps(name)}]"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "step"


def artifacts_dir(test_name: str) -> Path:
    """artifacts/<test name>/ under the repository, emptied: what a test's browser steps leave."""
    path = ARTIFACTS / _slug(test_name)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def artifacts_fixture() -> Any:
    """A pytest fixture giving each test its artifacts/<test name>/, and naming it (and its screenshots)
    in the log once the test ends, passed or failed. Assign it in a test module or conftest
    (`artifacts = artifacts_fixture()`): that name is the fixture's name."""

    def _artifacts(request: pytest.FixtureRequest) -> Iterator[Path]:
        path = artifacts_dir(request.node.name)
        yield path
        files = sorted(child.name for child in path.iterdir())
        shown = path.relative_to(REPO)
        line = f"artifacts: {shown}/ ({len(files)} files{': ' + ', '.join(files) if files else ''})"
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        capture = request.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            if reporter.verbosity < 0:  # -q: the progress letters end no line of their own
                reporter.write("\n")
            reporter.write_line(line)

    return pytest.fixture(_artifacts)


class Browser:
    """One headless Chromium window; every step it waits for has a timeout and a screenshot on failure."""

    def __init__(self, driver: webdriver.Chrome, artifacts: Path) -> None:
        self.driver = driver
        self.artifacts = artifacts
        self._shots = 0
        self.failed = False  # a step has failed (and saved its screenshot)
        self._terminal: str | None = None  # the id of the .jp-Terminal that terminal_run types into
        self._notebook: str | None = None  # the id of the .jp-NotebookPanel that run_cell uses

    # -- pages ------------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        self.driver.get(url)

    def screenshot(self, name: str) -> Path:
        """Saves the window as artifacts/NN-<name>.png, numbered in the order taken."""
        self._shots += 1
        path = self.artifacts / f"{self._shots:02d}-{_slug(name)}.png"
        self.driver.save_screenshot(str(path))
        return path

    def text(self, css: str) -> str:
        """The visible text of the first element css matches (AssertionError if none does)."""
        try:
            return self.driver.find_element(By.CSS_SELECTOR, css).text
        except NoSuchElementException:
            self.fail("text", f"no element matches {css!r}")

    def wait_text(self, css: str, expected: str, timeout: float = 30.0) -> str:
        """Waits until an element css matches shows expected in its visible text; returns that text."""

        def probe() -> str | None:
            for element in self.driver.find_elements(By.CSS_SELECTOR, css):
                text = element.text
                if expected in text:
                    return text
            return None

        def seen() -> str:
            texts = [element.text for element in self.driver.find_elements(By.CSS_SELECTOR, css)]
            return f"{css!r} shows {texts!r}" if texts else f"no element matches {css!r}"

        return self._wait(probe, timeout, "wait-text", f"{expected!r} in {css!r}", seen)

    def fail(self, step: str, message: str) -> NoReturn:
        """Saves NN-failure-<step>.png (and the page's HTML and console log beside it), then raises
        AssertionError with message and an excerpt of the page's visible text."""
        self.failed = True
        base = self.artifacts / f"{self._shots + 1:02d}-failure-{_slug(step)}"
        notes = []
        try:
            notes.append(str(self.screenshot(f"failure-{step}").relative_to(REPO)))
            base.with_suffix(".html").write_text(self.driver.page_source)
            console = self.driver.execute(Command.GET_LOG, {"type": "browser"})["value"]
            base.with_suffix(".console.txt").write_text("".join(f"{entry['message']}\n" for entry in console))
            page = " ".join(str(self.driver.execute_script("return document.body.innerText")).split())
        except WebDriverException as error:  # the browser itself is gone: say so, keep the real failure
            page = f"(could not read the page: {error.msg})"
        if len(page) > EXCERPT:
            page = page[:EXCERPT] + " ..."
        where = f" [{', '.join(notes)}]" if notes else ""
        raise AssertionError(f"{step}: {message}{where}\npage at {self.driver.current_url}: {page}")

    def _wait(
        self,
        probe: Callable[[], T | None],
        timeout: float,
        step: str,
        waiting_for: str,
        seen: Callable[[], str] | None = None,
    ) -> T:
        """Polls probe until it returns something other than None; on timeout fails with what seen says."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = probe()
            except (NoSuchElementException, StaleElementReferenceException):
                result = None  # the page is re-rendering: look again
            if result is not None:
                return result
            if time.monotonic() >= deadline:
                detail = ""
                if seen is not None:
                    try:
                        detail = f"; {seen()}"
                    except WebDriverException as error:
                        detail = f"; (could not look: {error.msg})"
                self.fail(step, f"no {waiting_for} within {timeout:g}s{detail}")
            time.sleep(POLL)

    def _visible(self, css: str) -> list[WebElement]:
        return [element for element in self.driver.find_elements(By.CSS_SELECTOR, css) if element.is_displayed()]

    def _ids(self, css: str) -> set[str]:
        return {str(element.get_attribute("id")) for element in self.driver.find_elements(By.CSS_SELECTOR, css)}

    # -- JupyterLab -------------------------------------------------------------------------------

    def wait_lab_ready(self, timeout: float = 60.0) -> None:
        """Waits until JupyterLab has started: its splash gone (the saved layout restored), shell and menus."""
        self._wait(
            lambda: True if self.driver.execute_script(_READY) else None,
            timeout,
            "lab-ready",
            "JupyterLab shell (splash gone, main area and menu bar there)",
        )

    def _bring_to_front(self, name: str, step: str, timeout: float) -> None:
        """Selects the main-area tab holding the element with id name, unless that is in view already."""
        if self._visible(_id(name)):
            return
        widget = self.driver.execute_script(_DOCK_WIDGET, name)
        tabs = self._visible(f'.lm-TabBar-tab[data-id="{widget}"]') if widget else []
        if not tabs:
            self.fail(step, f"{_id(name)} has no tab in the main area (closed?)")
        tabs[0].click()
        self._wait(lambda: True if self._visible(_id(name)) else None, timeout, step, f"{_id(name)} in view")

    def _launcher(self, timeout: float) -> WebElement:
        """The launcher in view, opening a new one (the main area's "+") when none is."""
        shown = self._visible(".jp-Launcher")
        if shown:
            return shown[0]
        add = self._visible('.lm-TabBar-addButton[title="New Launcher"]')
        if add:
            add[0].click()
        else:  # an empty main area has no tab bar: File > New Launcher's shortcut
            ActionChains(self.driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("l").key_up(
                Keys.SHIFT
            ).key_up(Keys.CONTROL).perform()
        return self._wait(
            lambda: next(iter(self._visible(".jp-Launcher")), None), timeout, "launcher", "launcher in view"
        )

    def _launch(self, card_css: str, widget_css: str, step: str, timeout: float) -> str:
        """Clicks a launcher card; returns the id of the new widget_css element it opened."""
        before = self._ids(widget_css)
        launcher = self._launcher(timeout)
        cards = [card for card in launcher.find_elements(By.CSS_SELECTOR, card_css) if card.is_displayed()]
        if not cards:
            self.fail(step, f"the launcher has no card {card_css!r}")
        cards[0].click()

        def opened() -> str | None:
            for element in self.driver.find_elements(By.CSS_SELECTOR, widget_css):
                name = str(element.get_attribute("id"))
                if name not in before and element.is_displayed():
                    return name
            return None

        return self._wait(opened, timeout, step, f"new {widget_css} in view")

    def open_terminal(self, timeout: float = 60.0) -> None:
        """Opens a new terminal from the launcher and waits for the shell's first output (its prompt).
        terminal_run types into this terminal from then on."""
        state = self.driver.execute_async_script(_ENSURE_SCREEN_READER, TERMINAL_SETTINGS)
        if state == "set":  # the running page read its settings at start: load it again
            self.driver.refresh()
            self.wait_lab_ready(timeout)
        elif state != "on":
            self.fail("terminal-settings", f"could not turn on the terminal's screen reader mode: {state}")
        terminal = self._launch(
            '.jp-LauncherCard[data-category="Other"][title*="terminal"]', ".jp-Terminal", "open-terminal", timeout
        )
        self._terminal = terminal
        self._wait(
            lambda: True if any(text.strip() for text in self._terminal_rows()) else None,
            timeout,
            "terminal-prompt",
            "shell prompt in the terminal",
            lambda: f"terminal shows {self._terminal_screen()!r}",
        )

    def _terminal_rows(self) -> list[str]:
        return [str(text) for text in self.driver.execute_script(_TERMINAL_ROWS, self._terminal) or []]

    def _terminal_screen(self, last: int = 40) -> str:
        """The terminal's screen rows (its last ones), trailing blank rows left out."""
        rows = "\n".join(self._terminal_rows()).rstrip().split("\n")
        return "\n".join(rows[-last:])

    def terminal_run(self, command: str, expect: str, timeout: float = 60.0) -> str:
        """Types command into the terminal, waits for the shell to echo it, presses Enter, then waits until
        the screen below the command shows expect. Returns the text under the command. Whitespace is
        ignored in matching (a line that wraps at a space loses it on screen)."""
        terminal = self._terminal
        if terminal is None:
            raise RuntimeError("terminal_run before open_terminal")
        self._bring_to_front(terminal, "terminal-run", timeout)
        typed = _squash(command)
        wanted = _squash(expect)
        area = self.driver.find_element(By.CSS_SELECTOR, f"{_id(terminal)} .xterm-helper-textarea")
        area.send_keys(command)
        # Once the echo ends the screen, the command's last occurrence on screen is this one: whatever
        # follows it is its output, even when the same command ran before and its output is still in view.
        self._wait(
            lambda: True if _squash("".join(self._terminal_rows())).endswith(typed) else None,
            min(timeout, 15.0),
            "terminal-echo",
            f"echo of {command!r} at the prompt",
            lambda: f"terminal shows:\n{self._terminal_screen()}",
        )
        area.send_keys(Keys.ENTER)

        def output() -> str | None:
            rows = self._terminal_rows()
            squashed = ""
            ends: list[int] = []  # the squashed screen's length up to the end of each row
            for text in rows:
                squashed += _squash(text)
                ends.append(len(squashed))
            at = squashed.rfind(typed)
            # Not found: the output has scrolled the command out of view, so all in view is output.
            after = 0 if at < 0 else at + len(typed)
            if wanted not in squashed[after:]:
                return None
            last = -1 if at < 0 else next(index for index, end in enumerate(ends) if end >= after)
            return "\n".join(rows[last + 1 :]).rstrip()

        return self._wait(
            output,
            timeout,
            "terminal-run",
            f"{expect!r} after {command!r}",
            lambda: f"terminal shows:\n{self._terminal_screen()}",
        )

    def new_notebook(self, kernel: str | None = None, timeout: float = 60.0) -> None:
        """Creates a notebook from the launcher (the first Notebook card, or the one titled kernel, e.g.
        "Python 3 (ipykernel)") and waits for its first cell's editor and for its kernel to be idle (a cell
        run before the kernel exists is silently not run). run_cell uses this notebook."""
        card = '.jp-LauncherCard[data-category="Notebook"]' + (f"[title={json.dumps(kernel)}]" if kernel else "")
        notebook = self._launch(card, ".jp-NotebookPanel", "new-notebook", timeout)
        self._notebook = notebook
        self._wait(
            lambda: next(iter(self._visible(f"{_id(notebook)} .jp-Cell.jp-mod-active .cm-content")), None),
            timeout,
            "new-notebook",
            "notebook cell editor",
        )
        self._wait_kernel(notebook, ("idle",), "new-notebook", timeout)

    def _wait_kernel(self, notebook: str, statuses: tuple[str, ...], step: str, timeout: float) -> None:
        """Waits until the notebook's toolbar names a kernel whose status is one of statuses."""

        def kernel() -> tuple[str, str]:
            name, status = self.driver.execute_script(_KERNEL, notebook)
            return str(name), str(status)

        def ready() -> bool | None:
            name, status = kernel()
            return True if name not in ("", "No Kernel") and status in statuses else None

        self._wait(
            ready, timeout, step, f"kernel {' or '.join(statuses)}", lambda: "kernel {!r} is {!r}".format(*kernel())
        )

    def run_cell(self, code: str, expect: str, timeout: float = 60.0) -> str:
        """Puts code into the notebook's active cell (replacing what it held), runs it with Shift+Enter and
        waits until the cell's output contains expect. Returns the cell's output text. Fails early when
        the cell has not started 10 seconds after Shift+Enter (its prompt neither [*] nor [N]), or has
        finished ([N]) and its output still lacks expect 2 seconds later."""
        notebook = self._notebook
        if notebook is None:
            raise RuntimeError("run_cell before new_notebook")
        self._bring_to_front(notebook, "run-cell", timeout)
        self._wait_kernel(notebook, ("idle", "busy"), "run-cell", timeout)
        cell = self._wait(
            lambda: next(iter(self._visible(f"{_id(notebook)} .jp-Cell.jp-mod-active")), None),
            timeout,
            "run-cell",
            "active cell",
        )
        editor = cell.find_element(By.CSS_SELECTOR, ".cm-content")
        editor.click()
        ActionChains(self.driver).key_down(Keys.CONTROL).send_keys("a").key_up(Keys.CONTROL).perform()
        self.driver.execute_cdp_cmd("Input.insertText", {"text": code})
        typed = self.driver.execute_script(_EDITOR_TEXT, editor)
        if typed is not None and typed != code:
            self.fail("run-cell", f"the cell holds {typed!r}, not the code typed: {code!r}")
        ActionChains(self.driver).key_down(Keys.SHIFT).send_keys(Keys.ENTER).key_up(Keys.SHIFT).perform()
        sent = time.monotonic()
        finished_at: list[float] = []

        def state() -> tuple[str, str]:
            prompt, outputs = self.driver.execute_script(_CELL_STATE, cell)
            return str(prompt), "\n".join(str(output) for output in outputs)

        def output() -> str | None:
            prompt, text = state()
            if expect in text:
                return text
            if re.search(r"\[\d+\]", prompt):
                finished_at.append(time.monotonic())
                if finished_at[-1] - finished_at[0] > 2.0:
                    self.fail("run-cell", f"the cell finished ({prompt}) without {expect!r}; its output: {text!r}")
            elif "*" not in prompt and time.monotonic() - sent > 10.0:
                self.fail("run-cell", f"the cell did not start running (prompt {prompt!r}); its output: {text!r}")
            return None

        return self._wait(
            output,
            timeout,
            "run-cell",
            f"{expect!r} in the cell's output",
            lambda: "prompt {!r}, output {!r}".format(*state()),
        )


@contextmanager
def chromium(artifacts: Path, window: tuple[int, int] = WINDOW) -> Iterator[Browser]:
    """Headless Chromium through Debian's chromedriver (no Selenium Manager, no download). An exception
    escaping the block is preceded by a `failure-exit` screenshot unless a step already took a failure's."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: install Debian's chromium and chromium-driver "
            "(python3 -m vwclass.testenv.syspackages test)"
        )
    artifacts.mkdir(parents=True, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root has no user-namespace sandbox
        "--disable-dev-shm-usage",
        f"--window-size={window[0]},{window[1]}",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-search-engine-choice-screen",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(artifacts / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    browser = Browser(driver, artifacts)
    try:
        yield browser
    except BaseException:
        if not browser.failed:
            with suppress(WebDriverException):
                browser.screenshot("failure-exit")
        raise
    finally:
        driver.quit()
