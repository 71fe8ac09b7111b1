"""Every plotting helper titles its figure and labels both axes, and rejects bad input."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from vae_course import plots, train  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _labelled(ax):
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def _history():
    history = train.History()
    history.steps += [0, 1, 2]
    history.train["loss"] += [3.0, 2.0, 1.0]
    history.eval_steps.append(2)
    history.eval["loss"].append(1.5)
    return history


def test_show_images_draws_one_grid():
    images = torch.rand(12, 1, 8, 8)
    ax = plots.show_images(images, "digits", nrow=6, xlabel="example", ylabel="row")
    _labelled(ax)
    grid = ax.get_images()[0].get_array()
    assert grid.shape[:2] == (2 * 9 + 1, 6 * 9 + 1)  # 2 rows, 6 columns, 1-pixel padding


def test_show_rows_labels_each_row():
    rows = [torch.rand(5, 1, 8, 8) for _ in range(3)]
    ax = plots.show_rows(rows, ["noisy", "denoised", "clean"], "denoising")
    assert ax.get_title() == "denoising" and ax.get_xlabel() == "example"  # rows label the y axis:
    assert [t.get_text() for t in ax.get_yticklabels()] == ["noisy", "denoised", "clean"]


def test_scatter_latents_plots_every_code():
    z, labels = torch.randn(40, 3), torch.arange(40) % 10
    ax = plots.scatter_latents(z, labels, "codes", dims=(1, 2))
    _labelled(ax)
    assert ax.collections[0].get_offsets().shape == (40, 2)
    assert torch.allclose(torch.tensor(ax.collections[0].get_offsets()[:, 0]).float(), z[:, 1])
    _labelled(plots.scatter_latents(z, None, "unlabelled"))


def test_plot_history_draws_train_and_eval_curves():
    ax = plots.plot_history(_history(), ["loss"], "training", ylabel="loss", logy=True)
    _labelled(ax)
    assert len(ax.get_lines()) == 2 and ax.get_yscale() == "log"


def test_helpers_draw_into_a_given_axes():
    fig, axes = plt.subplots(1, 2)
    assert plots.show_images(torch.rand(4, 1, 8, 8), "a", ax=axes[0], xlabel="x", ylabel="y") is axes[0]
    assert plots.plot_history(_history(), ["loss"], "b", ax=axes[1]) is axes[1]


@pytest.mark.parametrize("call,error,match", [
    (lambda: plots.show_images(torch.rand(8, 8), "t"), ValueError, "images must have 4 dimensions"),
    (lambda: plots.show_rows([torch.rand(2, 1, 8, 8)], ["a", "b"], "t"), ValueError, "same length"),
    (lambda: plots.show_rows([torch.rand(2, 1, 8, 8), torch.rand(3, 1, 8, 8)], ["a", "b"], "t"),
     ValueError, "same shape"),
    (lambda: plots.scatter_latents(torch.randn(5, 2), None, "t", dims=(0, 2)), ValueError, "more than 2 columns"),
    (lambda: plots.plot_history(_history(), ["kl"], "t"), KeyError, "not in the history"),
])
def test_bad_input_is_rejected(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_mi_heatmap_prints_every_cell_and_labels_its_axes():
    import numpy as np
    matrix = np.array([[0.9, 0.1], [0.0, 0.5], [0.2, 0.3]])
    ax = plots.mi_heatmap(matrix, ["shape", "scale"], "I over H", latent_labels=["a", "b", "c"])
    assert ax.get_title() == "I over H" and ax.get_xlabel() and ax.get_ylabel()
    assert sorted(t.get_text() for t in ax.texts) == sorted(f"{v:.2f}" for v in matrix.ravel())
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="K = len\\(factor_names\\) = 3"):
        plots.mi_heatmap(matrix, ["a", "b", "c"], "wrong")
    plt.close("all")
