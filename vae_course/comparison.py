"""Comparing training methods over seeds: each score's mean and spread, a verdict computed
from the numbers (better only with two seeds or more and a gain beyond twice the spread), and
how far the scores rank the models alike (Spearman)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def mean_and_spread(rows: Sequence[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Per key, the mean and standard deviation (population, ddof = 0) over ``rows`` (one dict of
    scores per seed)."""
    if not rows:
        raise ValueError("rows must hold the scores of at least one seed, got none")
    return {k: (float(np.mean([r[k] for r in rows])), float(np.std([r[k] for r in rows]))) for k in rows[0]}


def compare_at_matched_distortion(candidate: Sequence[dict[str, float]], baseline: Sequence[dict[str, float]],
                                  curve: dict[float, dict[str, float]], name: str = "beta-TCVAE",
                                  baseline_name: str = "beta-VAE",
                                  curve_name: str = "beta-VAE") -> dict[str, object]:
    """Compare two methods' MIG (Chen) over seeds where it is fair: at matched reconstruction.
    ``curve`` maps each beta of a sweep of ``curve_name`` (beta-VAE) to its scores; its MIG at
    the candidate's mean distortion is read off it by linear interpolation. Returns the mean MIG
    "gain", the mean "distortion_gap" and a sentence "text" that says what the numbers support:
    a better trade-off only when, over at least two seeds, the candidate beats both the baseline
    and the interpolated curve by more than twice the seeds' spread."""
    a, b = mean_and_spread(candidate), mean_and_spread(baseline)
    points = sorted((c["distortion"], c["mig_chen"]) for c in curve.values())
    at_same = float(np.interp(a["distortion"][0], [p[0] for p in points], [p[1] for p in points]))
    gain, spread = a["mig_chen"][0] - b["mig_chen"][0], max(a["mig_chen"][1], b["mig_chen"][1])
    seeds = min(len(candidate), len(baseline))
    better = seeds >= 2 and gain > 2 * spread and a["mig_chen"][0] - at_same > 2 * spread
    text = (f"{name}: MIG {a['mig_chen'][0]:.3f} ± {a['mig_chen'][1]:.3f} at distortion {a['distortion'][0]:.1f} nats; "
            f"{baseline_name}: {b['mig_chen'][0]:.3f} ± {b['mig_chen'][1]:.3f} at {b['distortion'][0]:.1f} nats; "
            f"the {curve_name} curve gives {at_same:.3f} at {name}'s distortion. ")
    if seeds < 2:
        text += "One seed has no spread to weigh the difference against: run more seeds to compare."
    else:
        text += (f"{name} has the better MIG/reconstruction trade-off here, by more than twice the seeds' spread."
                 if better else f"These numbers do not show a better trade-off for {name}: the difference is not "
                 f"larger than twice the seeds' spread ({spread:.3f}) at matched reconstruction.")
    return {"gain": gain, "distortion_gap": a["distortion"][0] - b["distortion"][0], "at_same": at_same,
            "better": better, "text": text}


def rank_agreement(rows: Sequence[dict[str, float]], columns: Sequence[str]) -> np.ndarray:
    """The Spearman rank correlation between every two scores ``columns`` over the models
    ``rows`` (one dict of scores per model): (C, C), entry (a, b) the Pearson correlation of the
    ranks of score a and of score b across the models (ties share their mean rank;
    ``scipy.stats.spearmanr``). 1: the two scores order the models alike; -1: in reverse; NaN
    where a score is the same for every model."""
    if len(rows) < 3 or len(columns) < 2:
        raise ValueError(f"rank agreement needs >= 3 models and >= 2 scores, got {len(rows)} and {len(columns)}")
    from scipy.stats import spearmanr

    table = np.array([[row[c] for c in columns] for row in rows], dtype=float)
    constant = table.std(0) == 0
    rho = np.atleast_2d(spearmanr(np.where(constant, np.arange(len(rows))[:, None], table)).statistic)
    rho[constant, :] = rho[:, constant] = np.nan
    return rho
