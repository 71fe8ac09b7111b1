"""`python3 -m vae_course prepare`: trains ahead what the notebooks would train, skips what is
cached, resumes after Ctrl-C, refuses bad notebook numbers in one line; and a notebook run
after it trains nothing (quick mode throughout)."""
import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from vae_course import chapter_models, cli, data, lineup, recipe, train

REPO = Path(__file__).resolve().parent.parent
TINY = recipe.SpritesRecipe(latent_dim=2, hidden=(8,), steps=3, batch_size=16)


def saved(folder: Path) -> dict[str, int]:
    """The cache's model files with their modification times (ns)."""
    return {p.name: p.stat().st_mtime_ns for p in (folder / "models").glob("*")}


@pytest.fixture(scope="module")
def prepared_09(tmp_path_factory):
    """A quick-mode cache filled by `prepare 09`, and the train.fit calls of two runs."""
    cache = tmp_path_factory.mktemp("cache")
    calls = []
    real = train.fit
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VAE_COURSE_CACHE", str(cache))
        mp.setenv("VAE_COURSE_QUICK", "1")
        mp.setattr(recipe.train, "fit", lambda *a, **k: calls.append(k["desc"]) or real(*a, **k))
        codes = [cli.main(["prepare", "09"])]
        first = saved(cache)
        codes.append(cli.main(["prepare", "09"]))
        yield cache, codes, calls, first


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A fresh cache, a three-step recipe and line-up, for the command's behaviour alone."""
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path))
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    monkeypatch.setattr(recipe, "sprites_recipe", lambda: TINY)
    monkeypatch.setattr(lineup, "steps", lambda: 3)
    return tmp_path


def test_prepare_trains_each_model_of_the_notebook_once(prepared_09):
    cache, codes, calls, first = prepared_09
    wanted = recipe.notebook_models(9)
    assert codes == [0, 0]
    assert len(calls) == len(wanted) == len(first) == 7  # quick mode: one seed
    assert calls == [f"{m.method} beta={m.beta:g} seed {m.seed}" for m in wanted]
    assert saved(cache) == first  # the second run loaded, wrote nothing


def test_after_prepare_the_notebook_trains_nothing(prepared_09, monkeypatch):
    cache, _, _, first = prepared_09
    monkeypatch.setenv("VAE_COURSE_CACHE", str(cache))
    monkeypatch.setenv("VAE_COURSE_QUICK", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(REPO / "notebooks" / "09_beta_tcvae.ipynb", as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "(cache)" in printed  # the notebook says it loaded its comparison models
    assert saved(cache) == first


def test_prepare_reports_a_notebook_without_cached_models(tiny, capsys):
    assert cli.main(["prepare", "05"]) == 0
    out = capsys.readouterr().out
    assert "05: no model trained through the cache" in out and "trained 0, already cached 0" in out
    assert not (tiny / "models").exists()


@pytest.mark.parametrize("arg", ["99", "x", "-1", "8.0"])
def test_bad_notebook_numbers_name_the_valid_ones(tiny, capsys, arg):
    assert cli.main(["prepare", "08", arg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("[vae-course] notebooks must be numbers among 00 01") and arg in err
    assert "Traceback" not in err and not (tiny / "models").exists()


def test_ctrl_c_keeps_whole_models_and_a_rerun_continues(tiny, capsys, monkeypatch):
    real, steps = train._update, []

    def update(*args):  # Ctrl-C at the fifth step: during the second model (three steps each)
        steps.append(1)
        if len(steps) == 5:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(train, "_update", update)
    assert cli.main(["prepare", "13"]) == 130
    err = capsys.readouterr().err
    assert "interrupted (Ctrl-C)" in err and "run the command again" in err
    assert len(list((tiny / "models").glob("*.pt"))) == 1
    assert not list((tiny / "models").glob(".*"))  # no half-written file left
    assert cli.main(["prepare", "13"]) == 0
    assert "trained 10, already cached 1" in capsys.readouterr().out  # 3 sprites, 8 digits
    assert len(list((tiny / "models").glob("*.pt"))) == 11


def test_the_listed_models_are_the_notebooks_comparisons(monkeypatch):
    monkeypatch.delenv("VAE_COURSE_QUICK", raising=False)
    nine, ten = recipe.notebook_models(9), recipe.notebook_models(10)
    assert len(recipe.notebook_models(8)) == 4 and len(nine) == 6 + 3 + 1 + 1 and len(ten) == 3 + 9
    assert set(recipe.notebook_models(13)) <= set(ten) and recipe.notebook_models(5) == []
    assert {m.seed for m in ten if m.method == "HFVAE"} == {0, 1, 2}


def test_after_prepare_13_its_line_up_trains_nothing(tiny, capsys, monkeypatch):
    assert cli.main(["prepare", "13"]) == 0
    assert "trained 11, already cached 0" in capsys.readouterr().out  # 3 sprites + 8 digits
    first = saved(tiny)
    calls = []
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(k["desc"]))
    digits = data.load_digits("train")
    nets = lineup.train_lineup(digits.x, digits.y)  # what notebook 13 calls
    assert calls == [] and list(nets) == list(lineup.NAMES) and saved(tiny) == first
    source = nbformat.read(REPO / "notebooks" / "13_comparison.ipynb", as_version=4)
    assert "lineup.train_lineup(train_set.x, train_set.y)" in "".join(c.source for c in source.cells)


def prepare_then_watch(notebook: str, settings: list[dict], capsys, monkeypatch) -> tuple[str, list[str]]:
    """`prepare notebook`, with each of ``settings`` cut to three steps; returns what it printed
    and the list that every later train.fit call adds its description to (training nothing)."""
    for s in settings:
        monkeypatch.setitem(s, "steps", (3, 3))
    assert cli.main(["prepare", notebook]) == 0
    calls = []
    monkeypatch.setattr(train, "fit", lambda *a, **k: calls.append(k["desc"]))
    return capsys.readouterr().out, calls


def test_after_prepare_07_its_networks_load_without_training(tiny, capsys, monkeypatch):
    out, calls = prepare_then_watch("07", list(chapter_models.SETTINGS[7].values()), capsys, monkeypatch)
    assert "trained 4, already cached 0" in out and "trained 07 autoencoder (used in 07)" in out
    first = saved(tiny)
    for name in chapter_models.notebook_networks(7):  # what notebook 07 calls
        _, history, info = chapter_models.train_network(7, name)
        assert info["cached"] and history.steps
    assert calls == [] and saved(tiny) == first
    source = "".join(c.source for c in nbformat.read(REPO / "notebooks" / "07_vae.ipynb", 4).cells)
    assert source.count("chapter_models.train_network(7, ") == 4 and "train.fit(" not in source


def test_after_prepare_14_its_networks_and_flows_load_without_training(tiny, capsys, monkeypatch):
    monkeypatch.setitem(chapter_models.SETTINGS[12]["VQ-VAE + restarts"], "steps", (24, 24))  # 12 checkpoints
    settings = [*chapter_models.SETTINGS[14].values(), *chapter_models.FLOWS.values(), *chapter_models.PRIORS.values()]
    out, calls = prepare_then_watch("14", settings, capsys, monkeypatch)
    assert "trained 9, already cached 0" in out and "trained 12 PixelCNN prior (used in 14)" in out
    first = saved(tiny)
    digits = data.load_digits("train")
    loaded = [lineup.train_network("AE", digits.x, digits.y)[2],  # what notebook 14 calls
              *(chapter_models.train_network(nn, name)[2] for nn, name in
                [(14, "VAE"), (14, "KL-autoencoder"), (12, "VQ-VAE + restarts")]),
              chapter_models.train_prior("PixelCNN prior")[2],
              *(chapter_models.train_flow(name)[2] for name in chapter_models.FLOWS)]
    assert all(info["cached"] for info in loaded) and calls == [] and saved(tiny) == first
    source = "".join(c.source for c in nbformat.read(REPO / "notebooks" / "14_latent_generation.ipynb", 4).cells)
    for call in ['lineup.train_network("AE"', 'chapter_models.train_network(14, "VAE")',
                 'chapter_models.train_network(14, "KL-autoencoder")',
                 'chapter_models.train_network(12, "VQ-VAE + restarts")',
                 'chapter_models.train_prior("PixelCNN prior")', 'chapter_models.train_flow(']:
        assert call in source
    # what it still trains itself: the classifier (also 13's) and the 1-D flow of section 3
    assert "train.fit(" not in source and source.count("flow.fit(") == 1


def test_prepare_lists_the_networks_of_07_and_12_the_priors_after_their_vq_vae():
    assert list(cli._planned([7])) == [f"07 {n}" for n in chapter_models.notebook_networks(7)]
    planned = cli._planned([12])
    assert list(planned) == ["12 VQ-VAE", "12 VQ-VAE + restarts", "12 VQ-VAE, EMA codebook",
                             "12 PixelCNN prior", "12 PixelCNN prior, bare maps"]
    assert all(notebooks == [12] for _, _, notebooks in planned.values())



def test_prepare_lists_14s_borrowed_networks_once_with_each_user():
    planned = cli._planned([12, 14])
    labels = list(planned)
    assert labels.index("12 VQ-VAE + restarts") < labels.index("12 PixelCNN prior")
    assert labels.index("14 KL-autoencoder") < labels.index("14 flow prior")
    assert planned["12 VQ-VAE + restarts"][2] == [12, 14] and planned["12 PixelCNN prior"][2] == [12, 14]
    assert planned["digits AE"][2] == [14] and planned["12 PixelCNN prior, bare maps"][2] == [12]
    assert list(cli._planned([14])) == ["digits AE", "14 VAE", "14 KL-autoencoder", "12 VQ-VAE + restarts",
                                        "12 PixelCNN prior", *(f"14 {name}" for name in chapter_models.FLOWS)]
