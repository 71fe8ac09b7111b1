"""Disentanglement metrics: the mutual information gap (MIG) of Chen et al. 2018, section 5.

For ground-truth factors v_k and latent codes z_d (here the encoder means over a data set),

    MIG = (1/K) sum_k [I(z_(1); v_k) - I(z_(2); v_k)] / H(v_k),

where z_(1) and z_(2) are the two code dimensions sharing the most mutual information with
v_k. A code with one dimension per factor that carries that factor and nothing else scores 1;
a code where two dimensions carry the same factor, or none carries it, scores 0. Mutual
information comes from contingency tables after each code dimension is binned into equal-width
bins over its range (the discretized estimator of Locatello et al. 2019), in nats. numpy in,
float out.
"""
from __future__ import annotations

import numpy as np


def _labels(name: str, labels: object) -> np.ndarray:
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"{name} must be a numpy array (use .numpy() on a tensor), got {type(labels).__name__}")
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of labels, got shape {labels.shape}")
    return labels


def discrete_entropy(labels: np.ndarray) -> float:
    """The entropy H(a) = -sum_a p(a) log p(a) in nats of the empirical distribution of the
    discrete ``labels`` (N,)."""
    _, counts = np.unique(_labels("labels", labels), return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log(p)).sum())


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> float:
    """The mutual information I(a; b) = sum_{a,b} p(a, b) log [p(a, b) / (p(a) p(b))] in nats
    of the empirical joint distribution (the contingency table) of two label arrays (N,)."""
    _labels("a", a), _labels("b", b)
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length, got {len(a)} and {len(b)}")
    values_a, ia = np.unique(a, return_inverse=True)
    values_b, ib = np.unique(b, return_inverse=True)
    shape = (len(values_a), len(values_b))
    cells = np.ravel_multi_index((ia.ravel(), ib.ravel()), shape)
    joint = np.bincount(cells, minlength=shape[0] * shape[1]).reshape(shape) / len(a)
    outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
    seen = joint > 0
    return float((joint[seen] * np.log(joint[seen] / outer[seen])).sum())


def discretize(codes: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """Bin each column of ``codes`` (N, D) into ``n_bins`` equal-width bins spanning its range
    [min, max]: integer bin indices in [0, n_bins) of shape (N, D) (a constant column falls in
    a single bin)."""
    _check_n_bins(n_bins)
    out = np.empty(codes.shape, dtype=np.int64)
    for d, column in enumerate(codes.T):  # one histogram per code dimension
        edges = np.linspace(column.min(), column.max(), n_bins + 1)
        out[:, d] = np.digitize(column, edges[1:-1])
    return out


def _check_n_bins(n_bins: object) -> None:
    if not isinstance(n_bins, int) or isinstance(n_bins, bool):
        raise TypeError(f"n_bins must be an int, got {type(n_bins).__name__}")
    if n_bins < 2:
        raise ValueError(f"n_bins must be >= 2, got {n_bins}")


def _check_codes_factors(codes: object, factors: object) -> None:
    for name, arr in (("codes", codes), ("factors", factors)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{name} must be a numpy array (use .numpy() on a tensor), got {type(arr).__name__}")
        if arr.ndim != 2:
            raise ValueError(f"{name} must be 2-D (N, {'D' if name == 'codes' else 'K'}), got shape {arr.shape}")
    if len(codes) != len(factors) or len(codes) < 2:
        raise ValueError(f"codes and factors need the same number N >= 2 of rows, got codes {codes.shape} "
                         f"and factors {factors.shape}")
    if codes.shape[1] < 2:
        raise ValueError(f"MIG needs at least 2 code dimensions (it compares the top two), got codes {codes.shape}")
    if not np.isfinite(codes).all():
        raise ValueError("codes contain NaN or infinite values")


def mutual_info_matrix(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> np.ndarray:
    """I(z_d; v_k) in nats for every code dimension d and factor k: (D, K), from codes (N, D)
    binned by ``discretize`` and discrete factors (N, K)."""
    _check_codes_factors(codes, factors)
    binned = discretize(codes, n_bins)
    return np.array([[discrete_mutual_info(binned[:, d], factors[:, k]) for k in range(factors.shape[1])]
                     for d in range(codes.shape[1])])


def mig_from_mi(mi: np.ndarray, entropies: np.ndarray) -> float:
    """MIG from a mutual information matrix ``mi`` (D, K) and the factor entropies H(v_k) (K,):
    the mean over factors of (largest - second largest I(z_d; v_k) over d) / H(v_k)."""
    if mi.ndim != 2 or mi.shape[0] < 2 or entropies.shape != mi.shape[1:]:
        raise ValueError(f"mi must be (D >= 2, K) and entropies (K,), got {mi.shape} and {entropies.shape}")
    if (entropies <= 0).any():
        raise ValueError(f"every factor must vary (entropy > 0) to normalise by it, got entropies {entropies}")
    top = np.sort(mi, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / entropies))


def mig(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> float:
    """The mutual information gap (Chen et al. 2018) of codes (N, D) against discrete factors
    (N, K): each code dimension binned into ``n_bins`` equal-width bins over its range, mutual
    information from contingency tables in nats, and per factor the gap between the two most
    informative code dimensions divided by the factor's entropy, averaged over factors. In [0, 1].
    """
    _check_n_bins(n_bins)
    mi = mutual_info_matrix(codes, factors, n_bins)
    entropies = np.array([discrete_entropy(factors[:, k]) for k in range(factors.shape[1])])
    return mig_from_mi(mi, entropies)
