"""Progress reporting (geo.progress), the command line's log levels (-v/-q) and its progress bars."""
from __future__ import annotations

import io
import logging

import pytest

import cli
from analysis import pipeline
from analysis.params import load_preset
from geo.progress import Bars, Steps
from layers.store.copy import copy_workspace
from tests.conftest import copy_gpkg


class Recorder:
    """A progress callback that keeps what it was told."""

    def __init__(self):
        self.calls: list[tuple[float, int, str]] = []

    def __call__(self, done, total, what):
        self.calls.append((done, total, what))

    @property
    def steps(self) -> list[str]:
        return [what for _, _, what in self.calls if what]


def test_steps_report_in_order_and_nest():
    rec = Recorder()
    steps = Steps(rec, ["read", "chain", "store"])
    steps.start("read")
    steps.start("chain")
    inner = Steps(steps.part("chain"), ["a", "b"])
    inner.start("a")
    inner.start("b")
    inner.finish()
    steps.start("store")
    steps.finish()
    assert rec.calls == [(0, 3, "read"), (1, 3, "chain"), (1.0, 3, "chain: a"), (1.5, 3, "chain: b"),
                         (2.0, 3, "chain"), (2, 3, "store"), (3, 3, "")]
    assert Steps(None, ["x"]).part("x") is None  # nothing to report to: nested tasks get no callback either


def test_run_chain_reports_every_stage(module_sample_frames):
    rec = Recorder()
    result = pipeline.run_chain(module_sample_frames, load_preset("ruian_default"), progress=rec)
    assert rec.steps == list(pipeline.CHAIN_STAGES)
    assert rec.calls[-1] == (len(pipeline.CHAIN_STAGES), len(pipeline.CHAIN_STAGES), "")
    assert set(result.timings) == set(pipeline.CHAIN_STAGES)


@pytest.fixture(scope="module")
def module_sample_frames(sample_ws):
    layers, _ = sample_ws.read_many(pipeline.INPUT_LAYERS)
    return layers


def test_copy_reports_layer_by_layer(sample_path, tmp_path):
    rec = Recorder()
    copy_workspace(str(sample_path), str(tmp_path / "copy.gpkg"), progress=rec)
    assert rec.steps[0] == "read" and rec.steps[-1] == "verify"
    assert "write: plots" in rec.steps and "write: tables" in rec.steps and "rasters" in rec.steps
    dones = [done for done, _, _ in rec.calls]
    assert dones == sorted(dones) and rec.calls[-1] == (4, 4, "")


def test_bars_draw_one_bar_per_task_and_close_it():
    out = io.StringIO()
    with Bars(enabled=True, stream=out) as bars:
        steps = Steps(bars.task("evaluate"), ["read", "chain"])
        steps.start("read")
        steps.start("chain")
        steps.finish()
        assert bars._bars == {}  # closed once done
        drawn = out.getvalue()
        bars.task("evaluate")(2, 2, "")  # a task told again that it is done draws no new bar
        assert bars._bars == {} and out.getvalue() == drawn
    text = out.getvalue()
    assert "evaluate:   0%" in text and "evaluate:  50%" in text and "chain" in text and "evaluate: 100%" in text


def test_bars_are_off_without_a_terminal():
    assert Bars(stream=io.StringIO()).task("x") is None  # StringIO is no terminal
    assert Bars(enabled=False).task("x") is None


@pytest.fixture
def ws_copy(sample_path, tmp_path):
    return copy_gpkg(sample_path, tmp_path / "ws.gpkg")


def test_cli_verbosity(ws_copy, capsys):
    """stdout keeps the result; -v adds the steps on stderr, -vv the timing of each, -q none of it."""
    handlers = list(logging.getLogger().handlers)
    assert cli.main(["evaluate", "--workspace", str(ws_copy), "--no-store"]) == 0
    quiet_default = capsys.readouterr()
    assert "firms: 4073" in quiet_default.out and "INFO" not in quiet_default.err

    assert cli.main(["-v", "evaluate", "--workspace", str(ws_copy), "--no-store"]) == 0
    verbose = capsys.readouterr()
    assert verbose.out == quiet_default.out
    assert "INFO    analysis.pipeline: chain: 4073 firms, 5000 plots in" in verbose.err
    assert "DEBUG" not in verbose.err

    assert cli.main(["-vv", "evaluate", "--workspace", str(ws_copy), "--no-store"]) == 0
    debug = capsys.readouterr()
    assert "DEBUG   geo.progress: chain: redevelopment took" in debug.err

    assert cli.main(["-q", "-v", "evaluate", "--workspace", str(ws_copy), "--no-store"]) == 0
    assert capsys.readouterr().err == ""
    # each command's log handler is gone afterwards: nothing leaks into the next command or test
    assert logging.getLogger().handlers == handlers


def test_cli_errors_stay_one_line_and_unknown_options_are_refused(ws_copy, capsys):
    assert cli.main(["evaluate", "--workspace", str(ws_copy), "--preset", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--bogus"])
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_app_command_line(monkeypatch):
    """`planner app` runs server.py beside cli.py (static/ and .streamlit/ beside it), options pass through."""
    monkeypatch.delenv("PLANNER_ADDRESS", raising=False)
    monkeypatch.setenv("PLANNER_PORT", "8600")
    args = cli.build_parser().parse_known_args(["app", "--workspace", "/x/ws.gpkg"])[0]
    cmd, env = cli.app_command(args, ["--server.baseUrlPath", "planner"])
    assert cmd[1:4] == ["-m", "streamlit", "run"] and cmd[4] == str(cli.ROOT / "server.py")
    assert cmd[cmd.index("--server.address") + 1] == "127.0.0.1" and cmd[cmd.index("--server.port") + 1] == "8600"
    assert cmd[-2:] == ["--server.baseUrlPath", "planner"] and env["PLANNER_WORKSPACE"] == "/x/ws.gpkg"
