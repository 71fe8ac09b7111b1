import pytest

from vae_course import report


def test_proof_prints_the_label_value_and_verdict(capsys, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "0")
    assert report.proof("ratio", 2.5, target=">= 2", ok=True) is None  # a cell ending with it echoes nothing
    assert capsys.readouterr().out == "[proof] ratio = 2.5   target: >= 2 -> met\n"


def test_proof_says_quick_mode_explains_a_missed_target(capsys, monkeypatch):
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    report.proof("ratio", 1.5, target=">= 2", ok=False)
    assert "NOT met (quick mode" in capsys.readouterr().out


def test_markdown_table_formats_each_kind_of_value_and_marks_missing_ones():
    table = report.markdown_table({"PCA": {"mse": 0.02346, "n": 10}, "VAE": {"mse": 0.5, "elbo": -23.687}},
                                  ["mse", "n", "elbo"])
    assert table.splitlines() == ["| model | mse | n | elbo |", "|---|---|---|---|",
                                  "| PCA | 0.0235 | 10 | - |", "| VAE | 0.5000 | - | -23.69 |"]
    mixed = report.markdown_table({"a": {"tc": 4.4677, "nll": 123.45}, "b": {"tc": 0.563, "nll": 9.0}}, ["tc", "nll"])
    assert mixed.splitlines()[2:] == ["| a | 4.47 | 123.5 |", "| b | 0.56 | 9.0 |"]  # one format per column


def test_markdown_table_needs_columns():
    with pytest.raises(ValueError, match="columns"):
        report.markdown_table({"PCA": {}}, [])


def test_mean_std_table_writes_mean_and_spread():
    table = report.mean_std_table({"a": {"mig": (0.41234, 0.02), "rate": (8.0, 0.5)}}, ["mig", "rate"], fmt=".2f")
    assert table.splitlines()[2] == "| a | 0.41 ± 0.02 | 8.00 ± 0.50 |"
    with pytest.raises(ValueError, match="columns"):
        report.mean_std_table({}, [])


def test_training_says_how_long_and_whether_loaded(capsys):
    report.training("VAE", {"seconds": 31.6, "cached": False})
    report.training("flow prior, 6000 steps", {"seconds": 24.2, "cached": True, "path": "x"})
    assert capsys.readouterr().out.splitlines() == [
        "VAE: 32 s of training", "flow prior, 6000 steps: 24 s of training (from the cache)"]
