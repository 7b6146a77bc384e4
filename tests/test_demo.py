"""The demo frame on a tiny fake section: summary table, report.html, progress."""

import json
import sys
import types
from functools import partial

import numpy as np
import pytest

import skastro._demo as demo
from skastro._demo import DemoContext, SectionResult, run_demo, save_model_for_reload
from skastro._demo._report import (
    format_markdown_table,
    format_text_table,
    format_value,
    markdown_to_html,
    summary_rows,
)
from skastro.cli import main


def _fake_run(ctx: DemoContext, *, save_model: bool = False) -> SectionResult:
    """Two phases, one figure, three comparisons, a tiny model if asked (the
    fresh-process reload check takes seconds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.linear_model import LogisticRegression

    ctx.step("fitting")
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = np.array([0, 1] * 5)
    model = LogisticRegression().fit(X, y)
    ctx.log("fitted the fake model")
    ctx.step("figure")
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    fig.savefig(ctx.out / "fake.png", dpi=20)
    plt.close(fig)
    return SectionResult(
        summary="| a | b |\n|---|---|\n| **1** | `x<y` |",
        metrics={"accuracy": 0.5},
        figures=["fake.png"],
        models=(
            {"fake_model": save_model_for_reload(ctx, "fake_model", model, X)}
            if save_model
            else {}
        ),
        comparisons=[
            ("accuracy", 0.5, 0.92),
            ("objects", 10, None),
            ("AUC", float("nan"), 0.974),
        ],
    )


@pytest.fixture
def fake_section(monkeypatch):
    """Replace the demo's sections by one tiny fake section module."""
    module = types.ModuleType("skastro_fake_demo_section")
    module.SECTION = demo.Section(title="Fake section", steps=2)
    module.run = _fake_run
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setattr(demo, "SECTIONS", [module.__name__])
    return module


def test_format_value_cells():
    """Floats get 3 decimals; None and NaN a dash; ints and strings as is."""
    assert format_value(0.91234) == "0.912"
    assert format_value(None) == "—"
    assert format_value(float("nan")) == "—"
    assert format_value(12) == "12"
    assert format_value(True) == "yes"
    assert format_value("vgg16") == "vgg16"


def test_summary_rows_and_tables():
    """One row per comparison, aligned in text and as a Markdown pipe table."""
    results = {
        "lsbg": {"comparisons": [("CNN test accuracy", 0.9, 0.92)]},
        "stamps": {"comparisons": [("objects", 400, None)]},
        "empty": {},
    }
    rows = summary_rows(results)
    assert rows == [
        {
            "section": "lsbg",
            "metric": "CNN test accuracy",
            "ours": "0.900",
            "paper": "0.920",
        },
        {"section": "stamps", "metric": "objects", "ours": "400", "paper": "—"},
    ]
    text = format_text_table(rows).splitlines()
    assert text[0].split() == ["section", "metric", "ours", "paper"]
    assert set(text[1]) <= {"-", " "}
    assert len(text) == 4
    # numbers are right-aligned: the last characters line up
    assert text[2].endswith("0.920") and text[3].endswith("—")
    assert len({len(line) for line in text[:3]}) == 1
    md = format_markdown_table(rows).splitlines()
    assert md[0] == "| section | metric | ours | paper |"
    assert md[2] == "| lsbg | CNN test accuracy | 0.900 | 0.920 |"


def test_markdown_to_html_renders_subset(tmp_path):
    """Headings, tables, lists, inline spans and embedded images become HTML."""
    from matplotlib.image import imsave

    imsave(tmp_path / "img.png", np.zeros((2, 2)))
    text = "\n".join(
        [
            "# Title",
            "",
            "Some **bold** and _italic_ text with `a<b` and x_y_z.",
            "",
            "| col | val |",
            "|---|---|",
            "| a & b | 1 |",
            "",
            "- `m`: yes",
            "- `n`: NO",
            "",
            "![img](img.png)",
            "![missing](nope.png)",
        ]
    )
    page = markdown_to_html(text, title="T <1>", base=tmp_path)
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>T &lt;1&gt;</title>" in page
    assert "<h1>Title</h1>" in page
    assert "<strong>bold</strong>" in page and "<em>italic</em>" in page
    assert "<code>a&lt;b</code>" in page and "x_y_z" in page
    assert "<th>col</th>" in page and "<td>a &amp; b</td>" in page
    assert page.count("<li>") == 2
    assert 'src="data:image/png;base64,' in page
    assert 'src="nope.png"' in page  # not found: linked, not embedded


def test_run_demo_writes_summary_html_and_json(
    tmp_path, fake_section, capsys, monkeypatch
):
    """The frame prints the summary table and writes report.md/.html/results.json."""
    monkeypatch.setattr(fake_section, "run", partial(_fake_run, save_model=True))
    results = run_demo(tmp_path, progress=False)
    out = capsys.readouterr()
    assert "Summary (ours vs the paper's figure)" in out.out
    assert "accuracy" in out.out and "0.920" in out.out
    assert "fitted the fake model" in out.out
    assert out.err == ""  # no progress bars
    short = fake_section.__name__
    assert results[short]["reload_identical"] == {"fake_model": True}
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "## Summary" in md
    assert f"| {short} | accuracy | 0.500 | 0.920 |" in md
    assert f"| {short} | AUC | — | 0.974 |" in md
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<h2>Summary</h2>" in page and "<h2>Fake section</h2>" in page
    assert "<td>0.920</td>" in page and "<code>x&lt;y</code>" in page
    assert 'src="data:image/png;base64,' in page
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved[short]["comparisons"][0] == ["accuracy", 0.5, 0.92]
    assert saved["_summary"][1]["paper"] == "—"


def test_run_demo_progress_bars_only_when_asked(tmp_path, fake_section, capsys):
    """progress=True draws the section bar on stderr; the default does not
    when stderr is not a terminal (piped logs stay clean)."""
    run_demo(tmp_path / "on", progress=True)
    err = capsys.readouterr().err
    assert "[1/1] skastro_fake_demo_section" in err and "3/3 steps" in err
    run_demo(tmp_path / "auto")  # under pytest, stderr is not a terminal
    assert capsys.readouterr().err == ""
    run_demo(tmp_path / "quiet", progress=True, verbose=0)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_net_callbacks_progress_bar():
    """Deep estimators get skorch's ProgressBar only when progress is on."""
    from skorch.callbacks import ProgressBar

    on = DemoContext(out=".", progress=True).net_callbacks()
    assert [name for name, _ in on] == ["progress"]
    assert isinstance(on[0][1], ProgressBar)
    assert DemoContext(out=".", progress=False).net_callbacks() == []
    # step() without a bar is a no-op
    DemoContext(out=".").step("nothing to show")


def test_cli_progress_flag(tmp_path, fake_section, capsys):
    """``skastro demo --progress`` forces the bars, ``--no-progress`` removes them."""
    assert main(["demo", "--out", str(tmp_path / "a"), "--progress"]) == 0
    assert "steps" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "b"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "Summary" in captured.out


def test_every_section_declares_steps():
    """Each real section declares a Section with a title and a positive
    number of steps, and has a run function."""
    import importlib

    for name in demo.SECTIONS:
        module = importlib.import_module(name)
        section = module.SECTION
        assert isinstance(section, demo.Section) and callable(module.run)
        assert isinstance(section.title, str)
        assert isinstance(section.steps, int) and section.steps > 0


def test_section_settings_of_an_unknown_size_name_the_sizes():
    """Settings are read per size; an unknown size names the section and
    the sizes it offers."""
    section = demo.Section(title="Fake", sizes={"small": {"n": 1}, "paper": {"n": 9}})
    assert section.settings("paper") == {"n": 9}
    with pytest.raises(
        ValueError, match=r"'Fake' has no size 'huge'.*\['small', 'paper'\]"
    ):
        section.settings("huge")


@pytest.mark.slow
def test_full_demo_small(tmp_path):
    """The whole demo at size small: every model reloads identically, and the
    summary table has the paper's figures."""
    results = run_demo(tmp_path, size="small", progress=False)
    assert (tmp_path / "report.html").is_file()
    assert all(all(r["reload_identical"].values()) for r in results.values())
    rows = summary_rows(results)
    assert sum(r["paper"] != "—" for r in rows) >= 10


def test_format_ci_and_at_chance():
    """An interval prints as value [low, high]; it is at chance when it reaches it."""
    from skastro._demo._report import at_chance, format_ci

    ci = {"value": 0.5, "low": 0.41, "high": 0.6}
    assert format_ci(ci) == "0.500 [0.410, 0.600]"
    assert format_ci({"value": 0.5, "low": float("nan"), "high": 1.0}) == "0.500"
    assert at_chance(ci, 0.45) and not at_chance(ci, 0.4)
    assert at_chance({"value": 0.3}, 1 / 3)


def test_verdict_wins_ties_and_chance():
    """The verdict names the winner and the gap, says when the intervals
    overlap, and flags models at chance."""
    from skastro._demo._report import verdict

    clear = verdict(
        {
            "SVM": {"value": 0.85, "low": 0.83, "high": 0.87},
            "CNN": {"value": 0.92, "low": 0.91, "high": 0.93},
        },
        chance=0.5,
        paper="Tanoglidis et al. (2021): 0.920 vs 0.819",
    )
    assert clear.startswith("**Verdict:** CNN wins on accuracy")
    assert "ahead by 0.070" in clear and "do not overlap" in clear
    assert "at chance" not in clear and "Tanoglidis et al. (2021)" in clear
    tie = verdict(
        {
            "A": {"value": 0.40, "low": 0.30, "high": 0.50},
            "B": {"value": 0.36, "low": 0.26, "high": 0.46},
        },
        chance=0.34,
        why="both trained for 4 epochs",
    )
    assert "A leads" in tie and "not a clear win" in tie
    assert "**at chance** (0.340): A, B (no evidence of learning)" in tie
    assert "4 epochs" in tie


def test_verdict_judges_by_the_paired_interval():
    """With a paired difference of the two leaders, the win is judged by it,
    not by the overlap of their own intervals: overlapping intervals and a
    paired interval excluding 0 give a clear win, said once, without
    contradiction; the difference is turned to read best − second."""
    from skastro._demo._report import verdict

    scores = {
        "CNN": {"value": 0.425, "low": 0.355, "high": 0.495},
        "SVM": {"value": 0.545, "low": 0.475, "high": 0.610},
    }
    cnn_minus_svm = {"value": -0.120, "low": -0.190, "high": -0.040}
    line = verdict(
        scores,
        metric="test accuracy",
        paired=("CNN", "SVM", cnn_minus_svm),
        paired_on="the same 200 test images",
    )
    assert line.startswith("**Verdict:** SVM wins on test accuracy")
    assert (
        "ahead by 0.120 (paired difference on the same 200 test images "
        "0.120 [0.040, 0.190] excludes 0)"
    ) in line
    assert "not a clear win" not in line and "overlap" not in line
    assert line.count("\n") == 0
    # the same scores, a paired interval including 0: not a clear win
    tie = verdict(
        scores,
        paired=("SVM", "CNN", {"value": 0.12, "low": -0.01, "high": 0.25}),
    )
    assert "SVM leads" in tie
    assert "0.120 [-0.010, 0.250] includes 0, so not a clear win" in tie
    # without a paired difference: the overlap rule
    assert "the bootstrap intervals overlap, so not a clear win" in verdict(scores)
    # a paired difference of other models than the two leaders is reported
    # beside the overlap rule's judgement
    three = verdict(
        {**scores, "RF": {"value": 0.5, "low": 0.43, "high": 0.57}},
        paired=("CNN", "RF", {"value": -0.075, "low": -0.14, "high": -0.01}),
    )
    assert "SVM leads" in three and "overlap, so not a clear win" in three
    assert "paired difference CNN − RF on the same test set" in three
    with pytest.raises(ValueError, match=r"paired names \['MLP'\]"):
        verdict(scores, paired=("MLP", "SVM", cnn_minus_svm))


def test_verdict_and_tables_flag_models_at_chance():
    """A model in the section's table but outside the comparison is flagged
    at chance in the verdict (``also``); a table cell gets the same flag."""
    from skastro._demo._report import chance_flag, verdict

    flat = {"value": 0.25, "low": 0.19, "high": 0.31}
    line = verdict(
        {
            "CNN": {"value": 0.425, "low": 0.355, "high": 0.495},
            "SVM": {"value": 0.545, "low": 0.475, "high": 0.610},
        },
        chance=0.25,
        also={"EfficientNet-B0": flat, "forest": {"value": 0.5, "low": 0.45}},
    )
    assert "**at chance** (0.250): EfficientNet-B0 (no evidence" in line
    assert "forest" not in line and "EfficientNet-B0 wins" not in line
    assert chance_flag(flat, 0.25) == " (**at chance**)"
    assert chance_flag({"value": 0.5, "low": 0.45, "high": 0.55}, 0.25) == ""
    assert chance_flag(flat, None) == ""


def test_torch_threads_restored_after_a_section(tmp_path, fake_section, monkeypatch):
    """A section may change torch's thread count; the demo restores it."""
    import torch

    def greedy(ctx):
        torch.set_num_threads(1)
        return _fake_run(ctx)

    monkeypatch.setattr(fake_section, "run", greedy)
    before = torch.get_num_threads()
    torch.set_num_threads(max(2, before))
    try:
        expected = torch.get_num_threads()
        run_demo(tmp_path, progress=False, verbose=0)
        assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)


def test_torch_threads_context_caps_and_restores():
    """torch_threads sets at most n threads inside and restores them on error."""
    import torch

    from skastro._demo import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before


def test_load_shipped_says_when_a_model_is_missing(capsys):
    """A name that is not shipped gives None and one line saying so."""
    from skastro._demo import load_shipped

    ctx = DemoContext(out=".")
    assert load_shipped(ctx, "no-such-model") is None
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "'no-such-model' is not in this installation" in out[0]


def test_sections_leave_global_state_alone():
    """No section sets torch's thread count itself or silences a warning by
    matching its text (the frame scopes the threads; filters go by category)."""
    import importlib
    import inspect
    import re

    for name in demo.SECTIONS:
        source = inspect.getsource(importlib.import_module(name))
        assert "set_num_threads" not in source, name
        assert not re.search(
            r"filterwarnings\(\s*\"ignore\",\s*(message=)?\"", source
        ), name


def test_cli_help_lists_the_sections(capsys):
    """``skastro demo --help`` names every section, in the report's order."""
    assert main(["demo", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    names = [m.rsplit(".", 1)[-1] for m in demo.SECTIONS]
    assert ", ".join(names) in text


def test_run_demo_records_cpu_time(tmp_path, fake_section):
    """Each section's wall-clock and CPU seconds are in results.json and the
    report."""
    results = run_demo(tmp_path, progress=False, verbose=0)
    timing = results[fake_section.__name__]
    assert timing["seconds"] >= 0 and timing["cpu_seconds"] >= 0
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["_total_cpu_seconds"] == timing["cpu_seconds"]
    assert "s CPU_" in (tmp_path / "report.md").read_text(encoding="utf-8")
