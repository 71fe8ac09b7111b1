"""Disentanglement metrics: the mutual information gap (MIG) of Chen et al. 2018, section 5.

For ground-truth factors v_k and latent codes z_j,

    MIG = (1/K) sum_k [I(z_(1); v_k) - I(z_(2); v_k)] / H(v_k),

where z_(1) and z_(2) are the two code dimensions sharing the most mutual information with
v_k. A code with one dimension per factor that carries that factor and nothing else scores 1;
a code where two dimensions carry the same factor, or none carries it, scores 0.

Per factor, ``best_latent_normalized_mi`` max_j I(z_j; v_k) / H(v_k) says how much of v_k its
best latent holds; ``best_latent_fraction_of_mi_sum`` max_j I / sum_j I only how concentrated
the code's information about v_k is (1 however little that is).

Two estimators of I(z_j; v_k), in nats:

- ``mig`` (binned): the posterior *means* binned into equal-width bins over their range, mutual
  information from contingency tables: the discretised estimator of Locatello et al. 2019
  (disentanglement_lib's ``mig``). numpy in, float out. It ignores the posterior variance.
- ``mig_chen``: Chen et al.'s own estimator, I(z_j; v_k) = H(z_j) - H(z_j | v_k), with the
  entropies of the aggregate posterior q(z_j) = (1/N) sum_n q(z_j|x_n) estimated from samples of
  q(z_j|x) (their ``elbo_decomposition``/``mutual_info_metric_shapes``). torch in, float out.

Three other views of disentanglement that the field reports beside the MIG (Locatello et al.
2019 find that they often disagree), each from the posterior means, numpy in, float out, seeded:
``dci`` (Eastwood and Williams 2018: how many factors each latent predicts, how many latents each
factor needs, and how well the code predicts the factors), ``sap`` (Kumar et al. 2018: the gap
between the two latents that predict a factor best) and ``factorvae_score`` (Kim and Mnih 2018:
which latent stays still when one factor is held fixed).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from vae_course import validate


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
    if not isinstance(codes, np.ndarray):
        raise TypeError(f"codes must be a numpy array (use .numpy() on a tensor), got {type(codes).__name__}")
    if codes.ndim != 2 or len(codes) == 0:
        raise ValueError(f"codes must be a non-empty 2-D array (N, D), got shape {codes.shape}")
    if not np.isfinite(codes).all():
        raise ValueError(f"codes must be finite, got {int((~np.isfinite(codes)).sum())} NaN or infinite values")
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


def _check_mi(mi: object, entropies: object) -> None:
    if not isinstance(mi, np.ndarray) or not isinstance(entropies, np.ndarray):
        raise TypeError(f"mi and entropies must be numpy arrays, got {type(mi).__name__} and {type(entropies).__name__}")
    if mi.ndim != 2 or mi.shape[0] < 2 or entropies.shape != mi.shape[1:]:
        raise ValueError(f"mi must be (D >= 2, K) and entropies (K,), got {mi.shape} and {entropies.shape}")
    if (entropies <= 0).any():
        raise ValueError(f"every factor must vary (entropy > 0) to normalise by it, got entropies {entropies}")


def normalized_gaps(mi: np.ndarray, entropies: np.ndarray) -> np.ndarray:
    """Per factor k, (largest - second largest I(z_d; v_k) over d) / H(v_k), from a mutual
    information matrix ``mi`` (D, K) and the factor entropies H(v_k) (K,): shape (K,)."""
    _check_mi(mi, entropies)
    top = np.sort(mi, axis=0)[::-1]
    return (top[0] - top[1]) / entropies


def mig_from_mi(mi: np.ndarray, entropies: np.ndarray) -> float:
    """MIG from a mutual information matrix ``mi`` (D, K) and the factor entropies H(v_k) (K,):
    the mean over factors of ``normalized_gaps``."""
    return float(np.mean(normalized_gaps(mi, entropies)))


def best_latent_normalized_mi(mi: np.ndarray, entropies: np.ndarray) -> np.ndarray:
    """For each factor k, how much of its information its best latent holds,
    max_d I(z_d; v_k) / H(v_k), from ``mi`` (D, K) and the factor entropies H(v_k) (K,): (K,),
    1 when one latent pins v_k down, 0 when no latent knows anything about it."""
    _check_mi(mi, entropies)
    return mi.max(0) / entropies


def best_latent_fraction_of_mi_sum(mi: np.ndarray) -> np.ndarray:
    """For each factor k, the fraction of the mutual information summed over latents that its
    best latent holds, max_d I(z_d; v_k) / sum_d I(z_d; v_k), from ``mi`` (D, K): (K,), 0 where
    no latent carries any. It says how *concentrated* what the code knows about v_k is, not how
    much it knows: a factor carried at 0.01 nats by one latent scores 1, and two latents that
    each hold all of v_k score 1/2 (``best_latent_normalized_mi`` says how much)."""
    if not isinstance(mi, np.ndarray) or mi.ndim != 2:
        raise ValueError(f"mi must be a (D, K) numpy array, got {getattr(mi, 'shape', type(mi).__name__)}")
    total = np.clip(mi, 0, None).sum(0)
    return np.where(total > 0, np.clip(mi, 0, None).max(0) / np.where(total > 0, total, 1), 0.0)


def mig(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20) -> float:
    """The mutual information gap (Chen et al. 2018) of codes (N, D) against discrete factors
    (N, K): each code dimension binned into ``n_bins`` equal-width bins over its range, mutual
    information from contingency tables in nats, and per factor the gap between the two most
    informative code dimensions divided by the factor's entropy, averaged over factors. In [0, 1].
    """
    _check_n_bins(n_bins)
    mi = mutual_info_matrix(codes, factors, n_bins)
    return mig_from_mi(mi, factor_entropies(factors))


def factor_entropies(factors: np.ndarray) -> np.ndarray:
    """H(v_k) in nats of each column of the discrete ``factors`` (N, K): (K,). On a full
    factorial set every level is equally frequent and H(v_k) = log |v_k|."""
    if not isinstance(factors, np.ndarray) or factors.ndim != 2:
        raise ValueError(f"factors must be a 2-D numpy array (N, K), got {getattr(factors, 'shape', type(factors).__name__)}")
    return np.array([discrete_entropy(factors[:, k]) for k in range(factors.shape[1])])


# --- Chen et al.'s estimator: entropies of the aggregate posterior -------------------------

BLOCK = 2 ** 22  # (samples x mixture components x dimensions) log densities computed at a time


def aggregate_entropies(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """H(z_j) of each dimension of the mixture q(z_j) = (1/N) sum_n N(z_j; mu_nj, exp(logvar_nj)),
    estimated from samples z (S, D) of it: -(1/S) sum_s log q(z_sj), with log q(z_sj) =
    logsumexp_n log q(z_sj | x_n) - log N computed exactly over the N components (mu, logvar
    (N, D)). Returns (D,) float64 in nats (Chen et al. 2018, appendix; their ``estimate_entropies``).

    Speed: log N(z; mu, s^2) = [z^2, z, 1] . [-1/(2 s^2), mu/s^2, -(mu^2/s^2 + log s^2 + log 2 pi)/2],
    so the (S, N) table of one dimension is a matrix product, in float64 against cancellation.
    """
    validate.tensor("z", z, ndim=2)
    validate.tensor("mu", mu, ndim=2)
    validate.tensor("logvar", logvar, ndim=2)
    validate.same_shape(mu=mu, logvar=logvar)
    if z.shape[1] != mu.shape[1] or len(z) == 0 or len(mu) == 0:
        raise ValueError(f"z (S, D) and mu (N, D) need S, N >= 1 and the same D, got {tuple(z.shape)} and {tuple(mu.shape)}")
    z, mu, logvar = z.double(), mu.double(), logvar.double()
    precision = torch.exp(-logvar)
    powers = torch.stack([z ** 2, z, torch.ones_like(z)], -1).transpose(0, 1)  # (D, S, 3)
    coefs = torch.stack([-0.5 * precision, mu * precision,
                         -0.5 * (mu ** 2 * precision + logvar + math.log(2 * math.pi))], -1).permute(1, 2, 0)  # (D, 3, N)
    rows = max(1, BLOCK // mu.numel())
    total = torch.zeros(z.shape[1], dtype=torch.float64)
    for s in range(0, len(z), rows):  # a block of samples against all N components
        log_q = torch.bmm(powers[:, s:s + rows], coefs)  # (D, B, N): log q(z_sj | x_n)
        total += (torch.logsumexp(log_q, 2) - math.log(len(mu))).sum(1)
    return -total / len(z)


def _check_posterior(mu: object, logvar: object, factors: object) -> None:
    validate.tensor("mu", mu, ndim=2)
    validate.tensor("logvar", logvar, ndim=2)
    validate.same_shape(mu=mu, logvar=logvar)
    if not isinstance(factors, torch.Tensor) or factors.is_floating_point() or factors.dim() != 2:
        raise TypeError(f"factors must be a 2-D integer tensor (N, K) of factor indices, got "
                        f"{getattr(factors, 'dtype', type(factors).__name__)} {tuple(getattr(factors, 'shape', ()))}")
    if len(factors) != len(mu) or len(mu) < 2:
        raise ValueError(f"mu and factors need the same number N >= 2 of rows, got {tuple(mu.shape)} and {tuple(factors.shape)}")
    if not (torch.isfinite(mu).all() and torch.isfinite(logvar).all()):
        raise ValueError("mu and logvar must be finite (a NaN here would turn into a plausible MIG)")


def mutual_info_matrix_chen(mu: torch.Tensor, logvar: torch.Tensor, factors: torch.Tensor,
                            n_samples: int = 10_000, generator: torch.Generator | None = None) -> torch.Tensor:
    """I(z_j; v_k) = H(z_j) - H(z_j | v_k) in nats for every latent j and factor k, (D, K), for a
    data set with diagonal-Gaussian posteriors q(z|x_n) = N(mu_n, exp(logvar_n)) (N, D) and
    discrete factor indices ``factors`` (N, K) (Chen et al. 2018, section 5 and their code):

        H(z_j)       from samples of q(z_j) against the mixture over all N images;
        H(z_j | v_k) = sum_l p(v_k = l) H(z_j | v_k = l), each against the mixture over the
                       images with v_k = l, sampled from those images.

    The marginal entropy uses at most ``n_samples`` samples, one z ~ q(z|x_n) per image of a
    random subset (``generator``), and each of the L levels of v_k at most n_samples / L, so that
    H(z_j | v_k), an average over the levels, has the Monte Carlo error of H(z_j); the mixtures
    are exact. Unlike binning it sees the posterior
    variance: a unit whose mean moves but whose variance stays 1 carries no information.
    """
    _check_posterior(mu, logvar, factors)
    validate.positive_int("n_samples", n_samples)
    mu, logvar = mu.double(), logvar.double()
    z = mu + (0.5 * logvar).exp() * torch.randn(mu.shape, generator=generator, dtype=torch.float64)

    def entropy(rows: torch.Tensor, samples: int) -> torch.Tensor:
        pick = rows[torch.randperm(len(rows), generator=generator)[:samples]]
        return aggregate_entropies(z[pick], mu[rows], logvar[rows])

    marginal = entropy(torch.arange(len(mu)), n_samples)
    columns = []
    for k in range(factors.shape[1]):
        levels = factors[:, k].unique()
        per_level = max(1, -(-n_samples // len(levels)))
        conditional = sum((factors[:, k] == l).double().mean() * entropy((factors[:, k] == l).nonzero().flatten(), per_level)
                          for l in levels)
        columns.append(marginal - conditional)
    return torch.stack(columns, 1)


def mig_chen(mu: torch.Tensor, logvar: torch.Tensor, factors: torch.Tensor, n_samples: int = 10_000,
             generator: torch.Generator | None = None, factor_ids: list[int] | None = None) -> float:
    """The MIG with Chen et al.'s estimator of I(z_j; v_k) (``mutual_info_matrix_chen``),
    normalised by the factor entropies H(v_k) (log |v_k| on a full factorial set), averaged over
    the factors ``factor_ids`` (default all; Chen et al.'s dSprites code leaves shape out)."""
    mi = mutual_info_matrix_chen(mu, logvar, factors, n_samples, generator).numpy()
    ids = list(range(factors.shape[1])) if factor_ids is None else factor_ids
    return mig_from_mi(mi[:, ids], factor_entropies(factors.numpy())[ids])


# --- Three more views of disentanglement: DCI, SAP and the FactorVAE score ----------------
# Each takes codes (N, D) (posterior means) and discrete factors (N, K), numpy in, floats out,
# and is deterministic given ``seed`` (Locatello et al. 2019 compare them; they disagree).


def _check_metric_input(codes: object, factors: object, seed: object) -> None:
    _check_codes_factors(codes, factors)
    if factors.dtype.kind not in "iub":
        raise TypeError(f"factors must hold integer factor indices, got dtype {factors.dtype}")
    validate.seed("seed", seed)


def _split(n: int, train_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of the row indices 0..n-1 into (train, test)."""
    if not isinstance(train_fraction, float) or not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be a float in (0, 1), got {train_fraction!r}")
    order = np.random.default_rng(seed).permutation(n)
    cut = min(n - 1, max(1, round(train_fraction * n)))
    return order[:cut], order[cut:]


def dci_importance(codes: np.ndarray, factors: np.ndarray, n_trees: int = 50, train_fraction: float = 0.8,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The importance matrix R (D, K) of DCI and the test accuracy of each factor's classifier (K,).

    Per factor k a random forest (scikit-learn's ``RandomForestClassifier``, ``n_trees`` trees,
    every feature considered at each split, ``random_state=seed``) predicts v_k from all D codes,
    trained on a seeded ``train_fraction`` of the rows; R_jk is its impurity-based importance of
    z_j (non-negative, summing to 1 over j unless the forest never splits, then 0), and the
    accuracy is measured on the other rows. Eastwood and Williams 2018 use a Lasso and a random
    forest; Locatello et al. 2019 (disentanglement_lib) gradient-boosted trees, whose importances
    are the same kind of impurity decrease but which fit one tree per class in each of 100
    sequential boosting rounds (1,000 trees for a ten-level factor, against 50 here).
    """
    _check_metric_input(codes, factors, seed)
    validate.positive_int("n_trees", n_trees)
    from sklearn.ensemble import RandomForestClassifier

    train, test = _split(len(codes), train_fraction, seed)
    importance, accuracy = np.zeros((codes.shape[1], factors.shape[1])), np.zeros(factors.shape[1])
    for k in range(factors.shape[1]):  # one classifier per factor
        forest = RandomForestClassifier(n_estimators=n_trees, max_features=None, random_state=seed, n_jobs=1)
        forest.fit(codes[train], factors[train, k])
        importance[:, k] = np.nan_to_num(forest.feature_importances_)
        accuracy[k] = forest.score(codes[test], factors[test, k])
    return importance, accuracy


def _one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
    """1 - H_base(p) of each column of ``p`` (rows summing to 1 per column; all-zero columns
    give 0): 1 when a column puts all its mass on one row, 0 when it spreads it evenly."""
    total = p.sum(0)
    q = p / np.where(total > 0, total, 1)
    logs = np.log(np.where(q > 0, q, 1)) / math.log(base)
    return np.where(total > 0, 1 + (q * logs).sum(0), 0.0)


def dci_from_importance(importance: np.ndarray) -> tuple[float, float]:
    """DCI disentanglement and completeness (Eastwood and Williams 2018, section 3) from an
    importance matrix R (D, K) >= 0, R_jk how much latent z_j helps predict factor v_k:

        D = sum_j rho_j (1 - H_K(P_j.)),   P_jk = R_jk / sum_k R_jk,   rho_j = sum_k R_jk / sum_jk R_jk
        C = (1/K) sum_k (1 - H_D(P~_.k)),  P~_jk = R_jk / sum_j R_jk

    with entropies in base K and base D (so each term is in [0, 1]). D is 1 when every latent
    that matters predicts one factor only; C is 1 when every factor is predicted by one latent
    only. A code that predicts nothing (R = 0) scores 0 on both.
    """
    if not isinstance(importance, np.ndarray) or importance.ndim != 2 or min(importance.shape) < 2:
        raise ValueError(f"importance must be a numpy array (D >= 2, K >= 2), got "
                         f"{getattr(importance, 'shape', type(importance).__name__)}")
    if not np.isfinite(importance).all() or (importance < 0).any():
        raise ValueError("importance must be finite and non-negative")
    total = importance.sum()
    if total == 0:
        return 0.0, 0.0
    per_code = _one_minus_entropy(importance.T, importance.shape[1])  # (D,): 1 - H_K(P_j.)
    disentanglement = float((importance.sum(1) / total * per_code).sum())
    completeness = float(_one_minus_entropy(importance, importance.shape[0]).mean())
    return disentanglement, completeness


def dci(codes: np.ndarray, factors: np.ndarray, n_trees: int = 50, train_fraction: float = 0.8,
        seed: int = 0) -> dict[str, float]:
    """DCI (Eastwood and Williams 2018, ICLR, "A framework for the quantitative evaluation of
    disentangled representations") of codes (N, D) against discrete factors (N, K):
    "disentanglement" and "completeness" from the importance matrix of ``dci_importance``
    (``dci_from_importance``), and "informativeness" the mean over factors of the classifiers'
    test accuracy (as disentanglement_lib reports it; Eastwood and Williams give the error,
    1 - accuracy). All in [0, 1], higher better; on the factors themselves D = C = I = 1."""
    importance, accuracy = dci_importance(codes, factors, n_trees, train_fraction, seed)
    disentanglement, completeness = dci_from_importance(importance)
    return {"disentanglement": disentanglement, "completeness": completeness,
            "informativeness": float(accuracy.mean())}


def sap_scores(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20, train_fraction: float = 0.8,
               seed: int = 0) -> np.ndarray:
    """The SAP score matrix S (D, K): S_jk the test accuracy of predicting the discrete factor
    v_k from the single latent z_j. The classifier bins z_j (``discretize``, ``n_bins``
    equal-width bins) and predicts in each bin the most frequent level of v_k among the training
    rows (a seeded ``train_fraction``) that fall in it, the overall most frequent level in a bin
    no training row reached; ties go to the smallest level. Kumar et al. 2018 use a threshold
    classifier, disentanglement_lib a linear SVM on z_j; a histogram classifier also reads a
    factor that a latent codes non-monotonically. A latent that knows nothing scores the
    frequency of the commonest level, 1/L_k on a factorial set."""
    _check_metric_input(codes, factors, seed)
    binned = discretize(codes, n_bins)
    train, test = _split(len(codes), train_fraction, seed)
    scores = np.zeros((codes.shape[1], factors.shape[1]))
    for k in range(factors.shape[1]):
        levels, v = np.unique(factors[:, k], return_inverse=True)
        v = v.ravel()
        fallback = np.bincount(v[train], minlength=len(levels)).argmax()
        for j in range(codes.shape[1]):
            counts = np.zeros((n_bins, len(levels)))
            np.add.at(counts, (binned[train, j], v[train]), 1)
            guess = np.where(counts.sum(1) > 0, counts.argmax(1), fallback)  # majority level per bin
            scores[j, k] = (guess[binned[test, j]] == v[test]).mean()
    return scores


def sap(codes: np.ndarray, factors: np.ndarray, n_bins: int = 20, train_fraction: float = 0.8,
        seed: int = 0) -> float:
    """The separated attribute predictability (Kumar et al. 2018, ICLR, "Variational inference
    of disentangled latent concepts from unlabeled observations", section 3) of codes (N, D)
    against discrete factors (N, K): per factor, the gap between the two largest scores of
    ``sap_scores`` over the latents, averaged over factors,

        SAP = (1/K) sum_k [S_(1)k - S_(2)k].

    High when each factor is predicted by one latent much better than by any other. Its ideal
    value is below 1: on the factors themselves the runner-up latent still scores chance, so
    SAP ~ (1/K) sum_k (1 - 1/L_k) on a factorial set with L_k levels (a little above: the level
    commonest in the training rows of a balanced set is rarer in the test rows); a collapsed code
    scores 0.
    """
    top = np.sort(sap_scores(codes, factors, n_bins, train_fraction, seed), axis=0)[::-1]
    return float((top[0] - top[1]).mean())


def _check_min_std(min_std: float) -> None:
    if validate.non_negative("min_std", min_std) == 0:
        raise ValueError("min_std must be > 0 (a latent of std 0 would divide 0 by 0), got 0")


def least_variance_latent(codes: np.ndarray, std: np.ndarray, min_std: float = 0.05) -> int:
    """One vote of the FactorVAE score: for codes (L, D) of a batch in which one factor is fixed,
    and each latent's std s_j over the whole data set (D,), the latent

        d = argmin_{j : s_j >= min_std} Var_batch(z_j / s_j)

    (population variance over the L rows; ties to the smallest j), -1 when no latent has
    s_j >= ``min_std``. Dividing by s_j makes latents of different scales comparable; leaving the
    collapsed ones out keeps 0 / 0 out (Kim and Mnih 2018, section 4; disentanglement_lib)."""
    for name, arr, ndim in (("codes", codes, 2), ("std", std, 1)):
        if not isinstance(arr, np.ndarray) or arr.ndim != ndim:
            raise TypeError(f"{name} must be a {ndim}-D numpy array, got "
                            f"{type(arr).__name__} of shape {getattr(arr, 'shape', None)}")
    if std.shape != codes.shape[1:]:
        raise ValueError(f"std must have shape ({codes.shape[1]},), one per latent of codes "
                         f"{codes.shape}, got {std.shape}")
    _check_min_std(min_std)
    active = std >= min_std
    if not active.any():
        return -1
    variance = np.where(active, (codes / np.where(active, std, 1)).var(0), np.inf)
    return int(variance.argmin())


def factorvae_votes(codes: np.ndarray, factors: np.ndarray, n_votes: int = 1000, batch_size: int = 64,
                    min_std: float = 0.05, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The votes of the FactorVAE score: ``n_votes`` pairs (d, k), returned as two int arrays.

    Each vote picks a factor k and one of its levels l at random (``seed``), takes ``batch_size``
    rows with v_k = l (without replacement; the other factors vary) and votes for
    d = ``least_variance_latent`` of them, with s_j each latent's std over all N rows: the
    argmin_j Var_batch(z_j / s_j) over the latents with s_j >= ``min_std`` (Kim and Mnih 2018,
    section 4; the pruning of collapsed latents is disentanglement_lib's), -1 when none is. The latent that codes the fixed
    factor barely moves within the batch, so its normalised variance is the smallest."""
    _check_metric_input(codes, factors, seed)
    validate.positive_int("n_votes", n_votes)
    validate.positive_int("batch_size", batch_size, minimum=2)
    _check_min_std(min_std)
    std = codes.std(0)
    rng = np.random.default_rng(seed)
    ks = rng.integers(0, factors.shape[1], n_votes)
    ds = np.full(n_votes, -1)
    for i, k in enumerate(ks):
        level = rng.choice(np.unique(factors[:, k]))
        rows = np.flatnonzero(factors[:, k] == level)
        batch = rng.choice(rows, min(batch_size, len(rows)), replace=False)
        ds[i] = least_variance_latent(codes[batch], std, min_std)
    return ds, ks


def majority_vote_accuracy(train: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray],
                           n_latents: int) -> float:
    """The majority-vote classifier of the FactorVAE score: from the training votes (d, k) it
    maps each latent d to the factor it voted for most often (V_dk counts, ties to the smaller k),
    and returns its accuracy on the test votes, the fraction of test votes (d, k) with
    argmax_k' V_dk' = k. Votes with d = -1 (no active latent) and latents never voted for in
    training count as wrong."""
    (d_train, k_train), (d_test, k_test) = train, test
    n_factors = int(max(k_train.max(initial=0), k_test.max(initial=0))) + 1
    counts = np.zeros((n_latents, n_factors))
    seen = d_train >= 0
    np.add.at(counts, (d_train[seen], k_train[seen]), 1)
    predicted = np.where(counts.sum(1) > 0, counts.argmax(1), -1)
    guess = np.where(d_test >= 0, predicted[np.clip(d_test, 0, None)], -1)
    return float((guess == k_test).mean())


def factorvae_score(codes: np.ndarray, factors: np.ndarray, n_votes: int = 1000, batch_size: int = 64,
                    min_std: float = 0.05, seed: int = 0) -> float:
    """The FactorVAE disentanglement score (Kim and Mnih 2018, ICML, "Disentangling by
    factorising", section 4) of codes (N, D) against discrete factors (N, K): the test accuracy
    of a majority-vote classifier from the latent of least normalised variance to the fixed
    factor (``factorvae_votes``: ``n_votes`` votes for training, as many again for testing;
    ``majority_vote_accuracy``). 1 when each factor has a latent of its own; at most about
    D'/K when only D' < K latents are active; 0 for a collapsed code (no active latent)."""
    votes = factorvae_votes(codes, factors, 2 * n_votes, batch_size, min_std, seed)
    train = tuple(v[:n_votes] for v in votes)
    test = tuple(v[n_votes:] for v in votes)
    return majority_vote_accuracy(train, test, codes.shape[1])
