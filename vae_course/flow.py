"""Flow matching on vectors: a learned generative prior for codes z in R^D (notebook 14).

The path from noise to data (Lipman et al. 2023, "Flow Matching for Generative Modeling";
Liu et al. 2023, "Flow Straight and Fast", rectified flow): for a code z ~ q(z) and noise
eps ~ N(0, I), drawn independently,

    x_t = (1 - t) eps + t z,   t in [0, 1]        (x_0 = eps, x_1 = z),

runs along a straight line at the constant *conditional velocity* d x_t / dt = z - eps. The
*marginal velocity* v(x, t) = E[z - eps | x_t = x] moves the whole distribution of x_t: the ODE
dx/dt = v(x, t) started at x_0 ~ N(0, I) ends at x_1 ~ q(z). It is learned by regression on the
conditional velocity,

    L(theta) = E_{t ~ U(0, 1), z, eps} || v_theta(x_t, t) - (z - eps) ||^2,

because the minimiser of a squared error is a conditional mean: L(theta) = E || v_theta(x_t, t)
- v(x_t, t) ||^2 + a constant that does not depend on theta.

Here: the path (``interpolate``, ``conditional_velocity``), the loss for ``train.fit``
(``flow_matching_loss``), a velocity network (``VelocityMLP``), the samplers (``euler``,
``heun``, ``sample``), the marginal velocity in closed form for a Gaussian mixture
(``mixture_velocity``) and for the empirical distribution of N codes (``empirical_velocity``),
and ``fit``. A velocity field is any callable v(x (B, D), t (B,)) -> (B, D): a trained network
and the exact fields go through the same samplers.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from vae_course import train, validate
from vae_course.density import FittedDensity
from vae_course.models import evaluating
from vae_course.objectives import LOG_2PI

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
METHODS = ("euler", "heun")


def _points(name: str, x: object, dim: int | None = None) -> torch.Tensor:
    """A finite, non-empty floating tensor (B, D) (D = ``dim`` when given)."""
    validate.tensor(name, x, shape=(None, dim) if dim is not None else None, ndim=2)
    return validate.finite(name, validate.not_empty(name, x))


def _times(t: object, n: int, like: torch.Tensor) -> torch.Tensor:
    """``t`` (a number, or a tensor (n,) or (n, 1)) as a tensor (n,) of ``like``'s dtype and
    device, checked to lie in [0, 1]."""
    if isinstance(t, torch.Tensor):
        if t.dim() > 2 or (t.dim() >= 1 and len(t) != n) or (t.dim() == 2 and t.shape[1] != 1):
            raise ValueError(f"t must be a number or a tensor of shape ({n},), "
                             f"got shape {tuple(t.shape)}")
        t = t.reshape(-1).to(like).expand(n)
    elif isinstance(t, (int, float)) and not isinstance(t, bool):
        t = torch.full((n,), float(t), dtype=like.dtype, device=like.device)
    else:
        raise TypeError(f"t must be a number or a tensor, got {type(t).__name__}")
    if not bool(((t >= 0) & (t <= 1)).all()):
        raise ValueError(f"t must lie in [0, 1], got values in "
                         f"[{t.min().item():.4g}, {t.max().item():.4g}]")
    return t


def interpolate(z: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """The point x_t = (1 - t) eps + t z of the straight path from noise eps (t = 0) to the code
    z (t = 1): z, eps (B, D), t a number or (B,) -> (B, D)."""
    _points("z", z)
    validate.tensor("eps", eps)
    validate.same_shape(z=z, eps=eps)
    t = _times(t, len(z), z)[:, None]
    return (1 - t) * eps + t * z


def conditional_velocity(z: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """d x_t / dt = z - eps, the velocity along the path of one pair (z, eps), whatever t:
    z, eps (B, D) -> (B, D). The regression target of flow matching."""
    _points("z", z)
    validate.tensor("eps", eps)
    validate.same_shape(z=z, eps=eps)
    return z - eps


@validate.loss_factory
def flow_matching_loss(seed: int = 0) -> train.LossFn:
    """A ``loss_fn(model, z, step)`` for ``train.fit`` on codes z (B, D): for each code a time
    t_b ~ U(0, 1) and a noise eps_b ~ N(0, I_D), drawn independently from a generator seeded by
    ``seed``, and

        loss = (1/B) sum_b || model(x_t_b, t_b) - (z_b - eps_b) ||^2,  x_t = (1 - t) eps + t z,

    the conditional flow-matching loss (Lipman et al. 2023, with the straight path and
    sigma_min = 0; Liu et al. 2023, rectified flow). ``model(x (B, D), t (B,))`` returns
    velocities (B, D): a network or any velocity field (an exact one, say). For a network in
    eval mode (the held-out evaluations of ``train.fit``) t and eps come from a generator seeded
    afresh with ``seed + 1`` at every call, so that held-out losses at different steps see the
    same draws.
    """
    validate.seed("seed", seed)
    generator = torch.Generator().manual_seed(seed)

    def loss_fn(model: nn.Module | Velocity, batch: train.Batch,
                step: int) -> tuple[torch.Tensor, dict]:
        z = _points("batch", batch if isinstance(batch, torch.Tensor) else batch[0])
        if not callable(model):
            raise TypeError(f"model must be a velocity field v(x, t) (a VelocityMLP), got {type(model).__name__}")
        if isinstance(model, nn.Module):
            validate.module_input("batch", z, model)
        training = getattr(model, "training", True)
        g = generator if training else torch.Generator().manual_seed(seed + 1)
        t = torch.rand(len(z), generator=g).to(z)
        eps = torch.randn(z.shape, generator=g).to(z)
        error = model(interpolate(z, eps, t), t) - conditional_velocity(z, eps)
        return error.pow(2).sum(1).mean(), {}

    return loss_fn


class VelocityMLP(nn.Module):
    """A velocity network v_theta(x, t): the point x (B, D) and a time embedding gamma(t) go
    through an MLP with SiLU activations to a velocity (B, D).

    gamma(t) = (t, sin(w_k t), cos(w_k t)) for k = 0..frequencies-1 with w_k = pi 2^k: sinusoidal
    features, as for the time steps of diffusion models (Ho et al. 2020), that let the network
    change quickly with t; the lowest, w_0 = pi, tells t = 0 from t = 1 (w = 2 pi would not).
    ``depth`` hidden layers of ``hidden`` units.
    """

    def __init__(self, D: int, hidden: int = 256, depth: int = 3, frequencies: int = 6):
        super().__init__()
        self.D = validate.positive_int("D", D)
        validate.positive_int("hidden", hidden)
        validate.positive_int("depth", depth)
        validate.positive_int("frequencies", frequencies)
        omega = math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32)
        self.register_buffer("omega", omega)
        sizes = [D + 1 + 2 * frequencies, *[hidden] * depth, D]
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(n_in, n_out)] + ([nn.SiLU()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)

    def embed(self, t: torch.Tensor) -> torch.Tensor:
        """gamma(t): t (B,) -> (B, 1 + 2 frequencies)."""
        angle = t[:, None] * self.omega.to(t)
        return torch.cat([t[:, None], angle.sin(), angle.cos()], dim=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """v_theta(x, t) (B, D) for points x (B, D) and times t (a number or (B,)) in [0, 1]."""
        validate.module_input("x", x, self)
        _points("x", x, self.D)
        t = _times(t, len(x), x)
        return self.net(torch.cat([x, self.embed(t)], dim=1))


def _device(velocity: Velocity) -> torch.device:
    if isinstance(velocity, nn.Module):
        weight = next(velocity.parameters(), None)
        if weight is not None:
            return weight.device
    return torch.device("cpu")


@torch.no_grad()
def _integrate(velocity: Velocity, x0: torch.Tensor, steps: int, method: str,
               trajectory: bool) -> torch.Tensor:
    """dx/dt = v(x, t) from t = 0 to 1 in ``steps`` equal steps h = 1 / steps."""
    if not callable(velocity):
        raise TypeError(f"velocity must be a callable v(x, t) (a VelocityMLP or an exact field), "
                        f"got {type(velocity).__name__}")
    _points("x0", x0)
    steps = validate.positive_int("steps", steps)
    validate.one_of("method", method, METHODS)
    h, home = 1.0 / steps, x0.device
    x = x0.to(_device(velocity))
    path = [x0.clone()]
    for i in range(steps):
        t = torch.full((len(x),), i * h, dtype=x.dtype, device=x.device)
        slope = velocity(x, t)
        if method == "heun" and i < steps - 1:  # the trapezoid: the slope at the far end too
            slope = 0.5 * (slope + velocity(x + h * slope, t + h))
        x = x + h * slope
        path.append(x.to(home))
    return torch.stack(path) if trajectory else path[-1]


def _run(velocity: Velocity, x0: torch.Tensor, steps: int, method: str,
         trajectory: bool) -> torch.Tensor:
    if isinstance(velocity, nn.Module):
        with evaluating(velocity):
            return _integrate(velocity, x0, steps, method, trajectory)
    return _integrate(velocity, x0, steps, method, trajectory)


def euler(velocity: Velocity, x0: torch.Tensor, steps: int, *,
          trajectory: bool = False) -> torch.Tensor:
    """Euler's method for dx/dt = v(x, t) from t = 0 to t = 1 in ``steps`` steps of h = 1/steps:

        x_{i+1} = x_i + h v(x_i, t_i),   t_i = i h,   i = 0, ..., steps - 1,

    one evaluation of v per step. x0 (B, D) -> x_1 (B, D), or with ``trajectory=True`` every
    x_i, (steps + 1, B, D). A network runs in eval mode, on its device; results on x0's device.
    """
    return _run(velocity, x0, steps, "euler", trajectory)


def heun(velocity: Velocity, x0: torch.Tensor, steps: int, *,
         trajectory: bool = False) -> torch.Tensor:
    """Heun's method (the explicit trapezoid rule) for dx/dt = v(x, t), t from 0 to 1:

        x' = x_i + h v(x_i, t_i),   x_{i+1} = x_i + (h/2) [v(x_i, t_i) + v(x', t_i + h)],

    second order, two evaluations of v per step; the last step is an Euler step, as in Karras et
    al. 2022 (algorithm 1), so that v is never evaluated at t = 1 (where the empirical field is
    singular): 2 steps - 1 evaluations in all. Shapes as in ``euler``.
    """
    return _run(velocity, x0, steps, "heun", trajectory)


def sample(velocity: Velocity, n: int, D: int, steps: int, *, method: str = "euler",
           generator: torch.Generator | None = None) -> torch.Tensor:
    """n samples (n, D) of the flow: x_0 = eps ~ N(0, I_D) drawn with ``generator`` (on the CPU,
    float32, so a seeded generator gives the same draws everywhere), carried to t = 1 by
    ``euler`` or ``heun`` (``method``) in ``steps`` steps."""
    validate.positive_int("n", n)
    validate.positive_int("D", D)
    validate.positive_int("steps", steps)
    validate.one_of("method", method, METHODS)
    eps = torch.randn(n, D, generator=generator)
    return _run(velocity, eps, steps, method, trajectory=False)


def _normal_logpdf_chol(diff: torch.Tensor,
                        chol: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log N(diff; 0, C C^T) (...,) and the solve (C C^T)^{-1} diff (..., D), for diff (..., D)."""
    solved = torch.cholesky_solve(diff.unsqueeze(-1), chol).squeeze(-1)
    log_det = 2 * torch.diagonal(chol, dim1=-2, dim2=-1).log().sum(-1)
    return -0.5 * (diff.shape[-1] * LOG_2PI + log_det + (diff * solved).sum(-1)), solved


def mixture_velocity(mixture: FittedDensity) -> Velocity:
    """The exact marginal velocity v(x, t) = E[z - eps | x_t = x] of the path from N(0, I) to a
    Gaussian mixture q(z) = sum_k pi_k N(z; mu_k, Sigma_k) (a ``density.FittedDensity``).

    Given the component k, (z - eps, x_t) is jointly Gaussian with
        E[x_t | k] = t mu_k,   S_k = Cov[x_t | k] = t^2 Sigma_k + (1 - t)^2 I,
        E[z - eps | k] = mu_k,  Cov[z - eps, x_t | k] = t Sigma_k - (1 - t) I,
    so E[z - eps | x_t = x, k] = mu_k + (t Sigma_k - (1 - t) I) S_k^{-1} (x - t mu_k), and
        v(x, t) = sum_k w_k E[z - eps | x, k],  w_k = softmax_k(log pi_k + log N(x; t mu_k, S_k)),
    the posterior probability of component k given x_t = x. Computed in float64; returns a
    callable v(x (B, D), t (B,) or a number) -> (B, D) in x's dtype.
    """
    if not isinstance(mixture, FittedDensity):
        raise TypeError(f"mixture must be a density.FittedDensity, got {type(mixture).__name__}")
    pi, mu = mixture.weights.double(), mixture.means.double()
    sigma = mixture.scale_tril.double() @ mixture.scale_tril.double().transpose(1, 2)
    eye = torch.eye(mixture.dim, dtype=torch.float64)

    def velocity(x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        _points("x", x, mixture.dim)
        s = _times(t, len(x), x).double().cpu()[:, None, None, None]           # (B, 1, 1, 1)
        cov = s ** 2 * sigma + (1 - s) ** 2 * eye                               # S_k (B, K, D, D)
        diff = x.double().cpu()[:, None] - s[..., 0] * mu                        # (B, K, D)
        log_n, solved = _normal_logpdf_chol(diff, torch.linalg.cholesky(cov))
        mean = mu + ((s * sigma - (1 - s) * eye) @ solved.unsqueeze(-1)).squeeze(-1)
        w = torch.softmax(pi.log() + log_n, dim=1)                              # (B, K)
        return (w.unsqueeze(-1) * mean).sum(1).to(x)

    return velocity


def empirical_velocity(codes: torch.Tensor) -> Velocity:
    """The exact marginal velocity of the path from N(0, I) to the empirical distribution of N
    codes, q(z) = (1/N) sum_n delta(z - z_n): the mixture of ``mixture_velocity`` with every
    Sigma_k = 0. Given n, x_t ~ N(t z_n, (1 - t)^2 I) and z - eps = (z_n - x_t) / (1 - t), so

        v(x, t) = (z_hat(x, t) - x) / (1 - t),   z_hat = sum_n w_n z_n,
        w_n = softmax_n(-|| x - t z_n ||^2 / (2 (1 - t)^2)),

    a softmax-weighted average of the codes. As t -> 1 the weights harden onto the nearest code,
    so the flow returns copies of the z_n. ``codes`` (N, D); computed in float64; the callable
    raises for t = 1, where v is singular (``euler`` and ``heun`` never evaluate it there).
    """
    codes64 = _points("codes", codes).detach().double().cpu()
    norms = codes64.pow(2).sum(1)

    def velocity(x: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        _points("x", x, codes64.shape[1])
        s = _times(t, len(x), x).double().cpu()
        if bool((s >= 1).any()):
            raise ValueError("the empirical velocity is singular at t = 1: evaluate it for t < 1")
        x64, s = x.double().cpu(), s[:, None]
        # || x - t z_n ||^2 = ||x||^2 - 2 t x.z_n + t^2 ||z_n||^2, for a t per row: (B, N)
        dist2 = x64.pow(2).sum(1, keepdim=True) - 2 * s * x64 @ codes64.T + s ** 2 * norms
        logits = -dist2 / (2 * (1 - s) ** 2)
        z_hat = torch.softmax(logits, dim=1) @ codes64
        return ((z_hat - x64) / (1 - s)).to(x)

    return velocity


def fit(codes: torch.Tensor, steps: int, *, eval_codes: torch.Tensor | None = None,
        hidden: int = 256, depth: int = 3, lr: float = 1e-3, batch_size: int = 256, seed: int = 0,
        ema: float | None = None, desc: str = "flow prior",
        progress: bool = True) -> tuple[VelocityMLP, train.History]:
    """Fit a ``VelocityMLP`` to codes (N, D) by flow matching (``flow_matching_loss``) for
    ``steps`` minibatches of ``batch_size`` (at most N) with Adam at learning rate ``lr`` and a
    cosine decay, through ``train.fit``; ``eval_codes`` (M, D) are scored along the way.
    Initialisation, minibatches, t and eps all come from ``seed`` (the global random state is
    left alone); ``progress`` shows a text progress bar. ``ema`` = a decay gamma in (0, 1): the
    network returned holds the exponential moving average of the weights after each step,
    theta_ema <- gamma theta_ema + (1 - gamma) theta (as for diffusion models, Ho et al. 2020);
    ``None``: the last weights. Returns the network, in eval mode, and the training ``History``
    (of the trained weights).
    """
    validate.same_dtype("codes", _points("codes", codes), torch.float32, "the VelocityMLP's weights")
    if eval_codes is not None:
        validate.same_dtype("eval_codes", _points("eval_codes", eval_codes, codes.shape[1]), torch.float32,
                            "the VelocityMLP's weights")
    validate.positive_int("steps", steps)
    validate.positive_int("batch_size", batch_size)
    validate.non_negative("lr", lr)
    validate.seed("seed", seed)
    if ema is not None and not (isinstance(ema, float) and 0 < ema < 1):
        raise ValueError(f"ema must be None or a decay in (0, 1), got {ema!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VelocityMLP(codes.shape[1], hidden, depth)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    average = [p.detach().clone() for p in model.parameters()] if ema is not None else None
    if average is not None:
        def update(*_: object) -> None:  # after every optimiser step
            for a, p in zip(average, model.parameters()):
                a.lerp_(p.detach().to(a.device), 1 - ema)
        optimizer.register_step_post_hook(update)
    history = train.fit(model, flow_matching_loss(seed), codes.detach(), steps=steps,
                        eval_data=None if eval_codes is None else eval_codes.detach(),
                        optimizer=optimizer, batch_size=min(batch_size, len(codes)),
                        lr_schedule="cosine", seed=seed, desc=desc, progress=progress)
    if average is not None:
        with torch.no_grad():
            for a, p in zip(average, model.parameters()):
                p.copy_(a.to(p.device))
    return model.eval(), history
