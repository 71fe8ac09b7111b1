"""Checks of exercise 09 (minibatch estimators and MIG): against ``vae_course.estimators`` and
``vae_course.metrics``, against explicit loops on small inputs, and against known values; then
the reference solution over the docstrings' domain: minibatches of M = 1 and odd sizes, any D,
float32 and float64, narrow and wide posteriors, N from M to 10^6, gradients to z, mu and
logvar; labels of every integer dtype and bool, negative and non-contiguous, N = 1; MI matrices
with ties, float32 and float64; permutations by their properties (each column's values kept,
columns no longer paired, the generator followed), as no two correct answers draw them alike;
votes with ties, collapsed latents and none active."""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from hypothesis import strategies as st

from vae_course import estimators, metrics
from vae_course.exercise_checks.common import expect_close, expect_number, expect_tensor, expect_true, expect_tuple
from vae_course.exercise_checks.differential import batch_sizes, differential, dtypes, reference, tensors


def _encodings(seed: int, m: int, d: int, log_scale: float = -0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """z ~ q(z|x_i), mu, logvar (m, d) float32; logvar around ``log_scale`` (-6: narrow posteriors)."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(m, d, generator=g)
    logvar = 0.5 * torch.randn(m, d, generator=g) + log_scale
    return mu + (0.5 * logvar).exp() * torch.randn(m, d, generator=g), mu, logvar


# At D = 64, sum_d log q(z_id | x_j) is about +100 for narrow posteriors and -120 for wide ones:
# exp() of it overflows or underflows in float32, so only a logsumexp gives the right answer.
EXTREMES = [(-6.0, "narrow posteriors, logvar = -6"), (1.0, "wide posteriors, logvar = 1")]


def _mws_loop(z, mu, logvar, n) -> float:
    """log q(z_0) by the minibatch weighted estimator, written as loops over j and d."""
    m, d = z.shape
    total = sum(math.exp(sum(-0.5 * (math.log(2 * math.pi) + logvar[j, k].item()
                                     + (z[0, k].item() - mu[j, k].item()) ** 2 / math.exp(logvar[j, k].item()))
                             for k in range(d)))
                for j in range(m))
    return math.log(total / (n * m))


@st.composite
def encoding_cases(draw, dataset: bool = True) -> dict:
    """z, mu, logvar (M, D) of one dtype, logvar from -6 (narrow) to 2 (wide); then N >= M."""
    shape, dtype = (draw(batch_sizes), draw(st.integers(1, 4))), draw(dtypes)
    mu = draw(tensors(shape, dtype))
    logvar = draw(tensors(shape, dtype, -6.0, 2.0))
    z = mu + (0.5 * logvar).exp() * draw(tensors(shape, dtype, -2.0, 2.0))
    case = {"z": z, "mu": mu, "logvar": logvar}
    if dataset:
        case["dataset_size"] = draw(st.one_of(st.just(shape[0]), st.integers(shape[0], 10 ** 6)))
    return case


def check_log_qz_mws(module) -> None:
    for seed, (m, d, n) in enumerate([(5, 2, 100), (16, 4, 1000)]):
        z, mu, logvar = _encodings(seed, m, d)
        got = expect_tuple("log_qz_mws", module.log_qz_mws(z, mu, logvar, n), 2, "(log_qz, log_prod_qzj)")
        want = estimators.log_qz(z, mu, logvar, n, estimator="mws")
        expect_tensor("log_qz", got[0], (m,))
        expect_tensor("log_prod_qzj", got[1], (m,))
        expect_close("log q(z_0) against a loop over j and d", got[0][0], _mws_loop(z, mu, logvar, n), atol=1e-4)
        expect_close(f"log_qz (M={m}, D={d}, N={n})", got[0], want[0], atol=1e-4)
        expect_close(f"log_prod_qzj (M={m}, D={d}, N={n}): log(N M) once per dimension", got[1], want[1], atol=1e-4)
    for log_scale, what in EXTREMES:
        z, mu, logvar = _encodings(5, 16, 64, log_scale)
        log_qz, log_prod = module.log_qz_mws(z, mu, logvar, 1000)
        want = estimators.log_qz(z, mu, logvar, 1000, estimator="mws")
        expect_true(bool(torch.isfinite(log_qz).all()),
                    f"log_qz at D = 64 with {what} is not finite ({log_qz[:3].tolist()}...): exp() of a sum of 64 "
                    "log-densities overflows or underflows; use torch.logsumexp instead of log(sum(exp))")
        expect_close(f"log_qz at D = 64 with {what}", log_qz, want[0], atol=1e-3)
        expect_close(f"log_prod_qzj at D = 64 with {what}", log_prod, want[1], atol=1e-3)
    differential("log_qz_mws", module.log_qz_mws, reference("09", "log_qz_mws"), encoding_cases(),
                 grads=("z", "mu", "logvar"), parts=("log_qz", "log_prod_qzj"))


def check_mss_weights(module) -> None:
    for m, n in [(4, 10), (3, 3), (2, 5), (8, 1000)]:
        got = expect_tensor(f"mss_weights({m}, {n})", module.mss_weights(m, n), (m, m), dtype=torch.float64)
        expect_close(f"mss_weights({m}, {n}).diagonal() (each sample's own point)", got.diagonal(),
                     torch.full((m,), 1 / n, dtype=torch.float64), atol=1e-9)
        expect_close(f"mss_weights({m}, {n}).sum(1) (each row)", got.sum(1), torch.ones(m, dtype=torch.float64),
                     atol=1e-9)
        expect_close(f"mss_weights({m}, {n})", got, estimators.importance_weights(m, n, "mss").exp(), atol=1e-9)
    differential("mss_weights", module.mss_weights, reference("09", "mss_weights"), _weight_cases())


@st.composite
def _weight_cases(draw) -> dict:
    m = draw(st.integers(2, 12))
    return {"batch_size": m, "dataset_size": draw(st.one_of(st.just(m), st.integers(m, 10 ** 6)))}


def _mi_loop(a, b) -> float:
    n, pa, pb = len(a), Counter(a.tolist()), Counter(b.tolist())
    return sum(c / n * math.log(c * n / (pa[x] * pb[y])) for (x, y), c in Counter(zip(a.tolist(), b.tolist())).items())


def check_discrete_mutual_info(module) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, 400)
    b = 3 * ((a + rng.integers(0, 3, 400)) % 6) - 4  # depends on a; labels need not start at 0
    for name, x, y in [("I(a; b)", a, b), ("I(b; a)", b, a), ("I(a; a) = H(a)", a, a),
                       ("I of independent labels", np.repeat(np.arange(4), 5), np.tile(np.arange(5), 4)),
                       ("I of boolean labels", a > 2, b > 0), ("I of int32 labels", a.astype(np.int32), b.astype(np.int32))]:
        got = expect_number(name, module.discrete_mutual_info(x, y))
        expect_close(f"{name} (natural log, cells with p(a, b) > 0)", got, _mi_loop(x, y), atol=1e-9)
        expect_close(name + " (package)", got, metrics.discrete_mutual_info(x, y), atol=1e-9)
    differential("discrete_mutual_info", module.discrete_mutual_info, reference("09", "discrete_mutual_info"),
                 _label_cases())


LABEL_TYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


@st.composite
def _labels(draw, n: int) -> np.ndarray:
    dtype = draw(st.sampled_from(LABEL_TYPES))
    palette = [0, 1] if dtype is np.bool_ else [0, 1, 2, 7, 100] if dtype is np.uint8 else [0, 1, 2, -3, 7, 100]
    return np.array(draw(st.lists(st.sampled_from(palette), min_size=n, max_size=n)), dtype=dtype)


@st.composite
def _label_cases(draw) -> dict:
    n = draw(st.integers(1, 30))
    return {"a": draw(_labels(n)), "b": draw(_labels(n))}


def check_mig_from_mi(module) -> None:
    mi = np.array([[0.9, 0.1], [0.3, 0.6], [0.0, 0.5]])
    expect_close("MIG of the matrix [[0.9, 0.1], [0.3, 0.6], [0.0, 0.5]] with entropies [1, 2]",
                 expect_number("mig_from_mi", module.mig_from_mi(mi, np.array([1.0, 2.0]))), 0.325, atol=1e-9)
    rng = np.random.default_rng(1)
    mi, entropies = rng.random((6, 4)), 1 + rng.random(4)
    expect_close("MIG of a random matrix (sort each column, the factor's)", expect_number("mig_from_mi", module.mig_from_mi(mi, entropies)),
                 metrics.mig_from_mi(mi, entropies), atol=1e-9)
    grid = np.stack(np.meshgrid(np.arange(3), np.arange(4), indexing="ij"), -1).reshape(-1, 2)
    codes = np.c_[grid[:, 1], rng.normal(size=len(grid)), grid[:, 0]].astype(float)
    mi = metrics.mutual_info_matrix(codes, grid)
    entropies = np.array([metrics.discrete_entropy(grid[:, k]) for k in range(2)])
    expect_close("MIG of a code with one clean dimension per factor", expect_number("mig_from_mi", module.mig_from_mi(mi, entropies)),
                 metrics.mig(codes, grid), atol=1e-9)
    differential("mig_from_mi", module.mig_from_mi, reference("09", "mig_from_mi"), _mi_cases(), atol=1e-6, rtol=1e-5)


@st.composite
def _mi_cases(draw) -> dict:
    """mi (D, K) with ties (a few values), entropies > 0, both float32 or both float64."""
    d, k, dtype = draw(st.integers(2, 5)), draw(st.integers(1, 4)), draw(st.sampled_from([np.float64, np.float32]))
    mi = draw(st.lists(st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 2.0)), min_size=d * k,
                       max_size=d * k))
    entropies = draw(st.lists(st.floats(0.1, 3.0), min_size=k, max_size=k))
    return {"mi": np.array(mi, dtype=dtype).reshape(d, k), "entropies": np.array(entropies, dtype=dtype)}


def check_permute_dims(module) -> None:
    b = 2000
    base = torch.randn(b, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    z = torch.stack([base, 2 * base + 1, base], 1)  # columns 1 and 2 determined by column 0
    p = expect_tensor("permute_dims(z) of z (2000, 3)", module.permute_dims(z, torch.Generator().manual_seed(1)),
                      (b, 3), dtype=torch.float64)
    for j in range(3):
        expect_true(torch.equal(p[:, j].sort().values, z[:, j].sort().values),
                    f"column {j} of permute_dims(z) does not hold the values of z[:, {j}]: each column must keep "
                    "its own values (its marginal q(z_j)), so permute the rows (across the batch) within each "
                    "column, not the values across dimensions")
    expect_true((p[:, 0] != z[:, 0]).float().mean() > 0.9,
                "permute_dims left most of column 0 in its place: permute each column across the batch")
    paired = (p[:, 0] == p[:, 2]).float().mean().item()
    expect_true(paired < 0.05, f"in {100 * paired:.0f}% of the rows column 0 and its copy (column 2) are still paired: "
                "one permutation for every dimension keeps each row together, a sample of q(z) itself; draw one "
                "permutation per dimension")
    corr = torch.corrcoef(p[:, :2].T)[0, 1].item()
    expect_true(abs(corr) < 0.1, f"columns 0 and 1 of permute_dims(z) still correlate ({corr:.2f}): "
                "draw one permutation per dimension")
    again = module.permute_dims(z, torch.Generator().manual_seed(1))
    expect_true(torch.equal(p, again), "permute_dims(z, generator) gave different permutations for two generators "
                "seeded alike: draw them from generator (torch.rand(..., generator=generator) or "
                "torch.randperm(n, generator=generator))")
    other = module.permute_dims(z, torch.Generator().manual_seed(2))
    expect_true(not torch.equal(p, other), "permute_dims gave the same permutations for generators seeded 1 and 2: "
                "draw them from generator")
    one = torch.tensor([[1.0, 2.0, 3.0]])
    expect_close("permute_dims of a batch of one row", module.permute_dims(one, torch.Generator().manual_seed(0)), one)
    float32 = module.permute_dims(z.float(), torch.Generator().manual_seed(1))
    expect_tensor("permute_dims of a float32 z", float32, (b, 3), dtype=torch.float32)


def check_least_variance_latent(module) -> None:
    rng = np.random.default_rng(0)
    batch = rng.normal(size=(64, 3)) * np.array([0.05, 1.0, 3.0])  # raw variances about 0.0025, 1, 9
    std = np.array([0.1, 10.0, 3.0])  # normalised: about 0.25, 0.01, 1
    got = module.least_variance_latent(batch, std)
    expect_true(isinstance(got, (int, np.integer)) and not isinstance(got, bool),
                f"least_variance_latent must return an int, got {type(got).__name__}")
    how = ("divide each latent by its std s_j over the whole data set (the std argument, not the batch's own) "
           "and take the argmin")
    why = {0: "latent 0, whose raw variance is the smallest but which varies a quarter of its whole-data variance",
           2: "latent 2, of the largest normalised variance (the fixed factor's latent barely moves)"}
    expect_true(got == 1, f"least_variance_latent chose {why.get(got, f'latent {got}')}, expected latent 1 "
                f"(normalised variances about 0.25, 0.01, 1): {how}")
    collapsed = np.c_[np.zeros(64), batch[:, 1:]]
    got = module.least_variance_latent(collapsed, np.array([0.0, 10.0, 3.0]))
    expect_true(got == 1, f"with latent 0 collapsed (s_0 = 0) least_variance_latent chose {got}, expected 1: "
                "leave out the latents with s_j < min_std (0 / 0 is NaN, and argmin picks it)")
    got = module.least_variance_latent(batch, np.array([0.01, 0.02, 0.03]))
    expect_true(got == -1, f"with every s_j < min_std least_variance_latent returned {got}, expected -1")
    for seed in range(5):
        codes, std = rng.normal(size=(32, 6)), rng.random(6) + 0.01
        want = metrics.least_variance_latent(codes, std)
        expect_true(module.least_variance_latent(codes, std) == want,
                    f"least_variance_latent on a random batch (seed {seed}): expected {want}, got "
                    f"{module.least_variance_latent(codes, std)}")
    differential("least_variance_latent", module.least_variance_latent, reference("09", "least_variance_latent"),
                 _vote_cases())


@st.composite
def _vote_cases(draw) -> dict:
    """codes (L, D) with ties and constant columns, std (D,) with zeros, min_std around them."""
    n, d = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    codes = draw(st.lists(st.one_of(st.sampled_from([0.0, 1.0]), st.floats(-3, 3)), min_size=n * d, max_size=n * d))
    std = draw(st.lists(st.one_of(st.sampled_from([0.0, 0.05, 1.0]), st.floats(0, 3)), min_size=d, max_size=d))
    return {"codes": np.array(codes).reshape(n, d), "std": np.array(std),
            "min_std": draw(st.sampled_from([0.05, 0.5, 1.0]))}


TASKS = [("1. log q(z) by the minibatch weighted estimator", check_log_qz_mws),
         ("2. minibatch stratified sampling weights", check_mss_weights),
         ("3. discrete mutual information", check_discrete_mutual_info),
         ("4. the mutual information gap", check_mig_from_mi),
         ("5. samples of the product of the marginals", check_permute_dims),
         ("6. a vote of the FactorVAE score", check_least_variance_latent)]
