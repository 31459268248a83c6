"""The web dashboard in a real browser (Debian's headless Chromium through Selenium) against a
running service with finished runs: every page loads, charts hold data points, the submit
form shows the API's 422 messages next to their fields. Screenshots go to docs/screenshots/,
which the README and the docs show."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from actlab.client import Client

from tests.backends import make_backend
from tests.processes import Service, serve

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("chromium") is None or shutil.which("chromedriver") is None,
                       reason="Debian's chromium and chromium-driver are not installed "
                              "(.ci/run installs them)"),
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TASK = {"model": {"name": "mlp", "params": {"hidden": 16}}, "dataset": {"name": "digits"},
        "seeds": [0, 1, 2], "training": {"epochs": 4}, "tags": ["ui"]}


@pytest.fixture(scope="module")
def ui_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Service, str]]:
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    tmp = tmp_path_factory.mktemp("ui")
    with make_backend("embedded", tmp / "data") as backend, pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        upgrade_head()
        with serve(backend.env(), tmp / "service.log") as svc:
            lab = Client(url=svc.url)
            relu = lab.submit({**TASK, "activation": {"name": "relu"}})
            dual = lab.submit({**TASK, "activation": {"name": "dual_line"}})
            for submitted in (relu, dual):
                assert submitted.wait(progress=False, poll=0.3, timeout=240)["status"] == \
                    "succeeded", svc.log_text()[-2000:]
            yield svc, dual.id
        _reset_caches()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1400",
                "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(shutil.which("chromedriver") or ""),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _open(driver: object, url: str, ready: str, timeout: float = 60) -> None:
    driver.get(url)  # type: ignore[attr-defined]
    _until(driver, f"return document.body.dataset.ready === {ready!r}", timeout)


def _until(driver: object, script: str, timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)  # type: ignore[attr-defined]
        if value:
            return value
        if time.monotonic() > deadline:
            page = driver.execute_script(  # type: ignore[attr-defined]
                "return location.hash + ' | ready=' + document.body.dataset.ready + ' | ' + "
                "document.body.innerText.slice(0, 1500)")
            raise AssertionError(f"timed out waiting for: {script}\npage: {page}")
        time.sleep(0.2)


def _shot(driver: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))  # type: ignore[attr-defined]


def test_the_experiments_list(ui_service: tuple[Service, str], browser: object) -> None:
    svc, dual_id = ui_service
    _open(browser, f"{svc.url}/", "/")  # / redirects to /ui
    rows = _until(browser, "return document.querySelectorAll('tr[data-id]').length")
    assert rows == 2
    assert _until(browser, f"return !!document.querySelector('tr[data-id=\"{dual_id}\"]')")
    _shot(browser, "experiments")


def test_an_experiment_page_draws_curves_parameters_and_response(
        ui_service: tuple[Service, str], browser: object) -> None:
    svc, dual_id = ui_service
    _open(browser, f"{svc.url}/ui#/experiment/{dual_id}", f"/experiment/{dual_id}")
    charts = _until(browser, "const c = window.actlabCharts; "
                             "return c.curves && c.boxes && c.response ? c : null")
    assert charts["curves"] == 4 * 3  # type: ignore[index]  # 4 epochs x mean, -std, +std
    assert charts["boxes"] == 6  # type: ignore[index]  # 2 blocks x a, b, m
    assert charts["response"] > 101 * 2  # type: ignore[index]  # envelope and layer means
    browser.execute_script("document.getElementById('per-seed').click()")  # type: ignore[attr-defined]
    assert _until(browser, "return window.actlabCharts.curves === 4 * 6")  # + 3 seeds
    _shot(browser, "experiment")


def test_a_kan_page_draws_each_edge_and_its_epochs(ui_service: tuple[Service, str],
                                                   browser: object) -> None:
    """A KAN's experiment page: its layers of small curves, one per edge, the epoch chosen
    with a slider; a regression's runs show RMSE."""
    svc, _ = ui_service
    kan = Client(url=svc.url).submit({
        "activation": {"name": "bspline"}, "model": {"name": "kan", "params": {"widths": [2]}},
        "dataset": {"name": "symbolic", "params": {"formula": "product", "n": 200}},
        "seeds": [0], "training": {"epochs": 3}})
    assert kan.wait(progress=False, poll=0.3, timeout=240)["status"] == "succeeded"
    _open(browser, f"{svc.url}/ui#/experiment/{kan.id}", f"/experiment/{kan.id}")
    # 2 -> 2 -> 1: 4 + 2 edges, at the last epoch
    assert _until(browser, "const c = window.actlabCharts; "
                           "return c.edges === 6 && c.edgesEpoch === 3")
    assert browser.execute_script(  # type: ignore[attr-defined]
        "return document.querySelectorAll('#edges canvas').length") == 6
    assert "val rmse" in browser.execute_script(  # type: ignore[attr-defined]
        "return document.querySelector('table').innerText")
    browser.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('edges-epoch'); s.value = 1; "
        "s.dispatchEvent(new Event('change'))")
    assert _until(browser, "const c = window.actlabCharts; "
                           "return c.edges === 6 && c.edgesEpoch === 1")
    _shot(browser, "kan")


def test_the_leaderboard_page(ui_service: tuple[Service, str], browser: object) -> None:
    svc, _ = ui_service
    _open(browser, f"{svc.url}/ui#/leaderboard?model=mlp&dataset=digits&tag=ui", "/leaderboard")
    assert _until(browser, "return window.actlabCharts.ci") == 2
    text = browser.execute_script("return document.querySelector('main').innerText")  # type: ignore[attr-defined]
    assert "dual_line" in text and "baseline" in text
    assert "val sparsity" in text and "val loss" in text  # beside the ranked metric
    # across tasks: one comparison group, two activations, a step each over tau
    points = _until(browser, "return window.actlabCharts.profiles")
    assert points and points % 2 == 0 and points >= 4, points
    assert "profile score" in browser.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('profiles').parentNode.innerText")
    _shot(browser, "leaderboard")


def test_the_submit_form_shows_422_messages_then_submits(
        ui_service: tuple[Service, str], browser: object) -> None:
    svc, _ = ui_service
    _open(browser, f"{svc.url}/ui#/catalog", "/catalog")
    # Every activation's formula typeset (KaTeX, vendored) and its curve drawn.
    charts = browser.execute_script("return window.actlabCharts")  # type: ignore[attr-defined]
    assert charts["catalog"] == charts["formulas"] >= 55, charts
    _shot(browser, "catalog")
    browser.execute_script(  # type: ignore[attr-defined]
        "document.getElementById('f-params').value = '{\"zz\": 1}';"
        "document.getElementById('f-seeds').value = '0, 0';"
        "document.getElementById('f-submit').click()")
    message = _until(browser, "return document.querySelector("
                              "'[data-field=\"activation.params\"]').innerText")
    assert "unknown parameter(s) zz" in str(message)
    assert "duplicate seeds" in str(_until(
        browser, "return document.querySelector('[data-field=\"seeds\"]').innerText"))
    _shot(browser, "submit-errors")
    browser.execute_script(  # type: ignore[attr-defined]
        "document.getElementById('f-params').value = '{}';"
        "document.getElementById('f-seeds').value = '5';"
        "document.getElementById('f-epochs').value = '1';"
        "document.getElementById('f-submit').click()")
    assert _until(browser, "return location.hash.startsWith('#/experiment/') && "
                           "document.body.dataset.ready.startsWith('/experiment/')")


def test_a_sweep_page_shows_its_progress(ui_service: tuple[Service, str],
                                         browser: object) -> None:
    svc, _ = ui_service
    sweep = Client(url=svc.url).sweep({"activations": [{"name": "relu"}, {"name": "elu"}],
                                       "models": [{"name": "mlp", "params": {"hidden": 8}}],
                                       "seeds": [0], "training": {"epochs": 1}, "tags": ["ui"]})
    _open(browser, f"{svc.url}/ui#/sweep/{sweep['id']}", f"/sweep/{sweep['id']}")
    assert _until(browser, "return document.querySelectorAll('tr[data-id]').length") == 2
    assert _until(browser, "return document.getElementById('sweep-progress').innerText"
                           ".includes('2/2 runs finished')", timeout=120)
    _shot(browser, "sweep")


def test_a_tuned_sweep_shows_its_trials_and_choices(ui_service: tuple[Service, str],
                                                    browser: object) -> None:
    svc, _ = ui_service
    sweep = Client(url=svc.url).sweep({
        "activations": [{"name": "relu"}, {"name": "elu"}],
        "models": [{"name": "mlp", "params": {"hidden": 8}}], "seeds": [0],
        "training": {"epochs": 1}, "tags": ["ui-tuning"],
        "tuning": {"trials": 2, "space": {"lr": {"low": 1e-3, "high": 0.1, "log": True}}}})
    _open(browser, f"{svc.url}/ui#/sweep/{sweep['id']}", f"/sweep/{sweep['id']}")
    _until(browser, "const t = document.getElementById('tuning-section'); "
                    "return t && t.innerText.includes('evaluated at the choices')", timeout=180)
    # 2 x 2 trials, then an evaluation per entry at its choice
    assert _until(browser, "return document.querySelectorAll('tr[data-id]').length "
                           "=== 6") is True
    text = str(browser.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('tuning-section').innerText"))
    assert "2 trials per entry" in text and "relu" in text and "elu" in text
    assert text.count("lr ") >= 2 + 2 * 2  # each choice and every trial's point
    _shot(browser, "tuning")


def test_a_run_waiting_for_a_gpu_says_so(ui_service: tuple[Service, str],
                                         browser: object) -> None:
    svc, _ = ui_service
    exp = Client(url=svc.url).submit({
        "activation": {"name": "relu"}, "model": {"name": "mlp", "params": {"hidden": 8}},
        "seeds": [77], "tags": ["ui-gpu"], "resources": {"device": "cuda"}})
    _open(browser, f"{svc.url}/ui#/experiment/{exp.id}", f"/experiment/{exp.id}")
    assert _until(browser, "const w = document.querySelector('.waiting'); "
                           "return w && w.innerText") == " waiting for a cuda worker"
    Client(url=svc.url).cancel(exp.id)


def test_a_raced_sweep_draws_its_rounds(ui_service: tuple[Service, str],
                                       browser: object) -> None:
    """An adaptive sweep's page: the race's table and its intervals per round, live until
    the race has ended (a dead activation decided worse after round 1)."""
    svc, _ = ui_service
    sweep = Client(url=svc.url).sweep({
        "activations": [{"name": "relu"}, {"name": "formula", "params": {"expression": "0*x"}}],
        "models": [{"name": "mlp", "params": {"hidden": 16}}],
        "training": {"epochs": 2, "batch_size": 64}, "tags": ["ui-race"],
        "adaptive": {"per_round": 5, "max_rounds": 2}})
    _open(browser, f"{svc.url}/ui#/sweep/{sweep['id']}", f"/sweep/{sweep['id']}")
    try:
        _until(browser, "return document.getElementById('race-section') && document"
                        ".getElementById('race-section').innerText.includes('finished')",
               timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nservice log: {svc.log_text()[-3000:]}") from None
    text = str(browser.execute_script(  # type: ignore[attr-defined]
        "return document.getElementById('race-section').innerText"))
    assert "Race against relu" in text
    assert "worse" in text and "10 of at most 20 seeds" in text
    assert _until(browser, "return window.actlabCharts.race") == 2  # one round each
    _shot(browser, "race")


def test_input_space_pictures_of_three_activations_side_by_side(
        ui_service: tuple[Service, str], browser: object) -> None:
    """Spirals: decision regions with the training points and each hidden layer's bent
    grid, for relu, tanh and dual_line at once, the epoch chosen with one slider."""
    svc, _ = ui_service
    activations = ["relu", "tanh", "dual_line"]
    sweep = Client(url=svc.url).sweep({
        "activations": [{"name": a} for a in activations],
        "models": [{"name": "mlp", "params": {"hidden": 16}}],
        "datasets": [{"name": "synthetic", "params": {"samples": 600}}], "seeds": [0],
        "training": {"epochs": 30, "batch_size": 32, "lr": 0.03}, "tags": ["ui-plane"]})
    _open(browser, f"{svc.url}/ui#/sweep/{sweep['id']}", f"/sweep/{sweep['id']}")
    try:
        _until(browser, "return document.getElementById('sweep-progress').innerText"
                        ".includes('3/3 runs finished')", timeout=180)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nservice log: {svc.log_text()[-3000:]}") from None
    browser.execute_script("document.getElementById('input-space-link').click()")  # type: ignore[attr-defined]
    _until(browser, "return document.body.dataset.ready === '/input-space'", timeout=60)
    charts = _until(browser, "const c = window.actlabCharts; return c['input-space-0'] && "
                             "c['input-space-1'] && c['input-space-2'] ? c : null")
    # per panel: 64 x 64 cells, 384 training points, 2 hidden layers x 22 lines x 41 points
    assert all(charts[f"input-space-{i}"] == 64 * 64 + 384 + 2 * 22 * 41  # type: ignore[index]
               for i in range(3)), charts
    text = str(browser.execute_script("return document.querySelector('main').innerText"))  # type: ignore[attr-defined]
    assert all(a in text for a in activations) and "PCA of 16" in text
    assert "epoch 30" in text
    _shot(browser, "input-space")
    browser.execute_script(  # type: ignore[attr-defined]
        "const s = document.getElementById('input-space-epoch'); s.value = 0;"
        "s.dispatchEvent(new Event('input'))")
    assert _until(browser, "return document.querySelector('main').innerText"
                           ".includes('epoch 1: predicted class')")


def test_a_search_page_draws_progress_curves_and_the_ranked_table(
        ui_service: tuple[Service, str], browser: object) -> None:
    svc, _ = ui_service
    lab = Client(url=svc.url)
    created = lab.search({
        "name": "ui search", "task": {"model": {"name": "mlp", "params": {"hidden": 8}},
                                      "training": {"epochs": 2}},
        "space": {"candidates": ["tanh(x)", "relu(x)", "max(x, 0)", "silu(x)", "abs(x)",
                                 "exp(exp(x))"]},
        "strategy": "random", "concurrency": 2, "budget": {"trainings": 9},
        "seeds": {"screen": 1, "confirm": 2, "confirm_top": 1}})
    state = lab.wait_search(created["id"], progress=False, poll=0.5, timeout=240)
    assert state["status"] == "succeeded", (state["error"], svc.log_text()[-3000:])
    _open(browser, f"{svc.url}/ui#/search/{created['id']}", f"/search/{created['id']}")
    charts = _until(browser, "const c = window.actlabCharts; "
                             "return c.best && c['search-curves'] ? c : null")
    ranked = [c for c in state["candidates"] if c["rank"] is not None]
    assert charts["best"] == len(state["best_so_far"])  # type: ignore[index]
    assert charts["search-curves"] == 41 * min(6, len(ranked))  # type: ignore[index]
    assert _until(browser, "return document.querySelectorAll('tr[data-rank]').length") == \
        len(state["candidates"])
    text = str(browser.execute_script("return document.querySelector('main').innerText"))  # type: ignore[attr-defined]
    assert "max(x, 0.0)" in text and "explodes" in text and "baseline" in text
    _shot(browser, "search")
    _open(browser, f"{svc.url}/ui#/searches", "/searches")
    assert "ui search" in str(browser.execute_script(  # type: ignore[attr-defined]
        "return document.querySelector('main').innerText"))


def test_the_api_docs_render_offline(ui_service: tuple[Service, str], browser: object) -> None:
    svc, _ = ui_service
    browser.get(f"{svc.url}/docs")  # type: ignore[attr-defined]
    assert _until(browser, "return document.querySelectorAll('.opblock').length") > 10
    browser.get(f"{svc.url}/redoc")  # type: ignore[attr-defined]
    assert _until(browser, "return document.querySelectorAll('[data-section-id]').length") > 5


def test_with_auth_on_the_ui_asks_for_a_key_and_sends_it(
        tmp_path: Path, browser: object) -> None:
    """ACTLAB_AUTH=true: the page asks for a key, refuses a bad one, then lists the key's
    experiments with it on every request; "Forget key" asks again."""
    from core.domain.settings import get_settings
    from core.store.db import session_scope
    from core.store.keys import Scope, create_key
    from core.store.migrate import upgrade_head
    from tests.conftest import _activate, _reset_caches

    with make_backend("embedded", tmp_path / "data") as backend, \
            pytest.MonkeyPatch.context() as mp:
        _activate(backend, mp)
        env = {**backend.env(), "ACTLAB_AUTH": "true", "ACTLAB_SECRET_KEY": "ui-secret"}
        for name, value in env.items():
            mp.setenv(name, value)
        _reset_caches()
        upgrade_head()
        with session_scope() as s:
            _, key = create_key(s, "browser", Scope.write, get_settings().resolved_secret())
        with serve(env, tmp_path / "service.log") as svc:
            Client(url=svc.url, key=key).submit({**TASK, "name": "owned by the key",
                                                  "activation": {"name": "relu"}})
            browser.get(f"{svc.url}/health")  # type: ignore[attr-defined]
            browser.execute_script("localStorage.clear()")  # type: ignore[attr-defined]
            _open(browser, f"{svc.url}/ui#/", "key")
            browser.execute_script(  # type: ignore[attr-defined]
                "document.querySelector('#key-form input').value = 'actlab_wrong';"
                "document.querySelector('#key-form button').click()")
            assert "refused" in str(_until(
                browser, "return document.body.dataset.ready === 'key' && "
                         "document.getElementById('view').innerText.includes('refused') && "
                         "document.getElementById('view').innerText"))
            browser.execute_script(  # type: ignore[attr-defined]
                f"document.querySelector('#key-form input').value = {key!r};"
                "document.querySelector('#key-form button').click()")
            _until(browser, "return document.body.dataset.ready === '/'")
            assert "owned by the key" in str(_until(
                browser, "return document.querySelector('tr[data-id]') && "
                         "document.getElementById('view').innerText"))
            # a running experiment's page follows its event stream, key included
            running = Client(url=svc.url, key=key).submit({
                **TASK, "name": "followed live", "activation": {"name": "relu"},
                "model": {"name": "lenet5"}, "seeds": [0],
                "training": {"epochs": 6, "batch_size": 16}})
            _open(browser, f"{svc.url}/ui#/experiment/{running.id}",
                  f"/experiment/{running.id}")
            _until(browser, "return (window.actlabEvents.run || 0) >= 2 && "
                            "(window.actlabEvents.end || 0) >= 1", timeout=120)
            _until(browser, "return document.querySelector('h1 .badge.succeeded')", 60)
            browser.execute_script(  # type: ignore[attr-defined]
                "document.getElementById('forget-key').click()")
            _until(browser, "return document.body.dataset.ready === 'key'")
            browser.execute_script("localStorage.clear()")  # type: ignore[attr-defined]
        _reset_caches()


def test_views_keep_updating_after_navigation(ui_service: tuple[Service, str],
                                             browser: object) -> None:
    """From a running sweep to one of its experiments and back: each page keeps updating
    while it is shown, and each owns its timers and streams (the page left behind stops
    its own, and never the next page's)."""
    svc, _ = ui_service
    lab = Client(url=svc.url)
    sweep = lab.sweep({"activations": [{"name": "relu"}, {"name": "elu"}],
                       "models": [{"name": "mlp", "params": {"hidden": 64}}],
                       "seeds": [0], "training": {"epochs": 100, "batch_size": 4},
                       "tags": ["ui-live"]})
    progress = "return document.getElementById('sweep-progress').innerText"
    try:
        _open(browser, f"{svc.url}/ui#/sweep/{sweep['id']}", f"/sweep/{sweep['id']}")
        _until(browser, "return document.querySelector('tr[data-id] .badge.running') && "
                        "/ [1-9][0-9]*\\/[0-9]+ epochs/.test(document.getElementById("
                        "'sweep-progress').innerText)", timeout=120)
        assert browser.execute_script("return window.actlabLive") == 1  # type: ignore[attr-defined]
        experiment = str(browser.execute_script(  # type: ignore[attr-defined]
            "const row = document.querySelector('tr[data-id] .badge.running').closest('tr');"
            "row.querySelector('a').click(); return row.dataset.id"))
        _until(browser, f"return document.body.dataset.ready === '/experiment/{experiment}'")
        epoch = "return document.querySelector('tr[data-run] td.epoch').innerText"
        for _ in range(2):  # the run's epoch moves on, from the event stream
            seen = browser.execute_script(epoch)  # type: ignore[attr-defined]
            _until(browser, f"{epoch} !== {seen!r}", timeout=60)
        # the sweep's polling ended with its page; the experiment's stream is the one left
        assert browser.execute_script("return window.actlabLive") == 1  # type: ignore[attr-defined]
        browser.execute_script("history.back()")  # type: ignore[attr-defined]
        _until(browser, f"return document.body.dataset.ready === '/sweep/{sweep['id']}'")
        for _ in range(2):  # and the sweep's progress moves on again, polled
            seen = browser.execute_script(progress)  # type: ignore[attr-defined]
            _until(browser, f"{progress} !== {seen!r}", timeout=60)
        assert browser.execute_script("return window.actlabLive") == 1  # type: ignore[attr-defined]
    finally:
        for e in lab.sweep_progress(sweep["id"]).get("experiments", []):
            try:
                lab.cancel(e["id"])
            except Exception:  # noqa: BLE001  # already finished
                pass
