"""The exercise checks catch the mistakes learners make: each case below replaces one function of
a solution by a plausible wrong answer and asserts that the checker fails it with a message that
names the problem and ends with the notebook section that teaches the task.

Run one exercise's cases with `pytest tests/test_exercise_mistakes.py -k ex07`.
"""
import re
import textwrap
from pathlib import Path

import pytest
import torch
from hypothesis import strategies as st
from hypothesis.configuration import storage_directory

from vae_course import exercises as ex
from vae_course.exercise_checks import differential

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"

# (exercise, wrong definition of one function, a phrase the failure must contain)
MISTAKES = [
    ("01", "no-centring", """
        def pca_svd(x, k):
            _, s, vt = torch.linalg.svd(x, full_matrices=False)
            return x.mean(0), vt[:k], s[:k] ** 2 / (len(x) - 1)""", "between your components"),
    ("01", "divide-by-N", """
        def pca_svd(x, k):
            mean = x.mean(0)
            _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
            return mean, vt[:k], s[:k] ** 2 / len(x)""", "explained_variance"),
    ("01", "float32", """
        def pca_svd(x, k):
            x = x.float()
            mean = x.mean(0)
            _, s, vt = torch.linalg.svd(x - mean, full_matrices=False)
            return mean, vt[:k], s[:k] ** 2 / (len(x) - 1)""", "dtype torch.float64"),
    ("01", "no-return", """
        def pca_svd(x, k):
            mean = x.mean(0)""", "returned None"),
    ("01", "no-clamp", """
        def principal_angles(a, b):
            q_a, q_b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
            return torch.rad2deg(torch.arccos(torch.linalg.svdvals(q_a.T @ q_b)))""", "clamp the cosines"),
    ("01", "radians", """
        def principal_angles(a, b):
            q_a, q_b = torch.linalg.qr(a)[0], torch.linalg.qr(b)[0]
            return torch.arccos(torch.linalg.svdvals(q_a.T @ q_b).clamp(0, 1))""", "not radians"),
    ("01", "no-qr", """
        def principal_angles(a, b):
            return torch.rad2deg(torch.arccos(torch.linalg.svdvals(a.T @ b).clamp(0, 1)))""", "orthonormalise"),
    ("02", "relu-after-last", """
        def mlp_encoder_decoder(P, hidden, D):
            def stack(sizes):
                layers = []
                for a, b in zip(sizes[:-1], sizes[1:]):
                    layers += [nn.Linear(a, b), nn.ReLU()]
                return nn.Sequential(*layers)
            return stack([P, *hidden, D]), stack([D, *reversed(hidden), P])""", "none after the last"),
    ("02", "no-zero-grad", """
        def training_step(model, optimizer, x):
            loss = ((model(x) - x) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss.item()""", "zero_grad, backward, step"),
    ("02", "returns-tensor", """
        def training_step(model, optimizer, x):
            optimizer.zero_grad()
            loss = ((model(x) - x) ** 2).mean()
            loss.backward()
            optimizer.step()
            return loss""", "Python float"),
    ("03", "ignores-generator", """
        def gaussian_noise(x, level, generator=None):
            return (x + level * torch.randn(x.shape)).clamp(0.0, 1.0)""", "equally seeded generators"),
    ("03", "shared-noise", """
        def gaussian_noise(x, level, generator=None):
            eps = torch.randn(x.shape[0], generator=generator).reshape(-1, *[1] * (x.dim() - 1))
            return (x + level * eps).clamp(0.0, 1.0)""", "correlated noise"),
    ("03", "no-clip", """
        def gaussian_noise(x, level, generator=None):
            return x + level * torch.randn(x.shape, generator=generator)""", "clipped to [0, 1]"),
    ("03", "masking-keeps-level", """
        def masking_noise(x, level, generator=None):
            u = torch.rand(x.shape, generator=generator)
            return x * (u < level)""", "fraction of pixels zeroed"),
    ("03", "pepper-first", """
        def salt_and_pepper_noise(x, level, generator=None):
            salt = (torch.rand(x.shape, generator=generator) < 0.5).to(x.dtype)
            hit = torch.rand(x.shape, generator=generator) < level
            return torch.where(hit, salt, x)""", "order the docstring says"),
    ("03", "rejects-level-0", """
        def corrupt(x, kind, level, generator=None):
            processes = {"gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper_noise}
            if kind not in processes or level <= 0 or (kind != "gaussian" and level > 1):
                raise ValueError(f"bad arguments: kind {kind!r}, level {level}")
            return processes[kind](x, level, generator)""", "level 0 is allowed"),
    ("03", "keyerror", """
        def corrupt(x, kind, level, generator=None):
            processes = {"gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper_noise}
            return processes[kind](x, level, generator)""", "raised KeyError"),
    ("04", "n-minus-1", """
        def fit_gaussian(z):
            return z.mean(0), torch.cov(z.T)""", "divide by N, not N - 1"),
    ("04", "ignores-generator", """
        def sample_gaussian(mu, cov, n, generator=None):
            return mu + torch.randn(n, len(mu)) @ torch.linalg.cholesky(cov).T""", "equally seeded generators"),
    ("04", "L-not-transposed", """
        def sample_gaussian(mu, cov, n, generator=None):
            return mu + torch.randn(n, len(mu), generator=generator) @ torch.linalg.cholesky(cov)""", "seeded 2"),
    ("05", "sum-over-dim-1", """
        def kl_normal_std(mu, logvar):
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)""", "(2, 4, 3)"),
    ("05", "mean-not-sum", """
        def kl_normal_std(mu, logvar):
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(-1)""", "a sum over the D latents"),
    ("05", "float32", """
        def kl_normal_std(mu, logvar):
            mu, logvar = mu.float(), logvar.float()
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)""", "dtype torch.float64"),
    ("05", "ignores-generator", """
        def mc_elbo(model, x, q_mean, q_cov, n_samples, generator=None):
            z = sample_gaussian(q_mean, q_cov, n_samples)
            return (model.log_joint(x, z) - log_gaussian(z, q_mean, q_cov)).mean(0)""", "equally seeded generators"),
    ("05", "endless-loop", """
        def mc_elbo(model, x, q_mean, q_cov, n_samples, generator=None):
            while True:
                pass""", "too slow"),
    ("06", "shared-noise", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape[:-1] + (1,), generator=generator, dtype=mu.dtype)
            return mu + torch.exp(0.5 * logvar) * eps""", "coordinates of z are correlated"),
    ("06", "std-is-exp-logvar", """
        def reparameterize(mu, logvar, generator=None):
            return mu + torch.exp(logvar) * torch.randn(mu.shape, generator=generator, dtype=mu.dtype)""",
     "variance of z"),
    ("06", "ignores-generator", """
        def reparameterize(mu, logvar, generator=None):
            return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)""", "equally seeded generators"),
    ("06", "sample-not-rsample", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            return (mu + torch.exp(0.5 * logvar) * eps).detach()""", "differentiably"),
    ("06", "sf-ignores-generator", """
        def score_function_grad(f, mu, sigma, n, generator=None):
            eps = torch.randn((n, *mu.shape), dtype=mu.dtype)
            fz = f(mu + sigma * eps).reshape(n, *([1] * mu.dim()))
            return fz * eps / sigma, fz * (eps.pow(2) - 1) / sigma""", "equally seeded generators"),
    ("07", "mean-over-pixels", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            rec = (x * logits - F.softplus(logits)).flatten(1).mean(1)
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) - rec""", "a sum over pixels"),
    ("07", "log-sigmoid", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            p = torch.sigmoid(logits)
            rec = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) - rec""", "must give finite values"),
    ("07", "clamped-bce", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            rec = -F.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1)
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) - rec""", "no clamping"),
    ("07", "float32", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            x, logits, mu, logvar = x.float(), logits.float(), mu.float(), logvar.float()
            rec = (x * logits - F.softplus(logits)).flatten(1).sum(1)
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) - rec""", "dtype torch.float64"),
    ("07", "beta-on-rec", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            rec = kl - negative_elbo_bernoulli(x, logits, mu, logvar)
            return -(beta * rec - kl).mean(), rec, kl""", "loss (beta = 4.0)"),
    ("07", "rec-sign", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            rec = negative_elbo_bernoulli(x, logits, mu, logvar) - kl
            return (rec + beta * kl).mean(), rec, kl""", "the sign of the reconstruction term"),
    ("08", "mean-over-pixels", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            log_px = (x * logits - F.softplus(logits)).flatten(1).mean(1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            return (-log_px + beta * kl).mean()""", "a sum over pixels"),
    ("08", "log-sigmoid", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            p = torch.sigmoid(logits)
            log_px = (x * torch.log(p) + (1 - x) * torch.log(1 - p)).flatten(1).sum(1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            return (-log_px + beta * kl).mean()""", "finite loss"),
    ("08", "in-place", """
        def latent_traversal(decode, z0, dim, values):
            out = []
            for v in values:
                z0[dim] = v
                out.append(decode(z0[None])[0])
            return torch.stack(out)""",
     "your function latent_traversal changed its argument z0 in place; work on a copy"),
    ("09", "naive-logsumexp", """
        def log_qz_mws(z, mu, logvar, dataset_size):
            log_q = log_normal(z[:, None, :], mu[None], logvar[None])
            log_nm = math.log(dataset_size * len(z))
            log_qz = torch.log(log_q.sum(2).exp().sum(1)) - log_nm
            log_prod = (torch.log(log_q.exp().sum(1)) - log_nm).sum(1)
            return log_qz, log_prod""", "use torch.logsumexp"),
    ("09", "log-nm-once", """
        def log_qz_mws(z, mu, logvar, dataset_size):
            log_q = log_normal(z[:, None, :], mu[None], logvar[None])
            log_nm = math.log(dataset_size * len(z))
            return torch.logsumexp(log_q.sum(2), 1) - log_nm, torch.logsumexp(log_q, 1).sum(1) - log_nm""",
     "once per dimension"),
    ("09", "float32-weights", """
        def mss_weights(batch_size, dataset_size):
            n, m = dataset_size, batch_size
            w = torch.full((m, m), (n - 1) / (n * (m - 1)))
            w.fill_diagonal_(1 / n)
            return w""", "dtype torch.float64"),
    ("09", "log2", """
        def discrete_mutual_info(a, b):
            _, ia = np.unique(a, return_inverse=True)
            _, ib = np.unique(b, return_inverse=True)
            joint = np.zeros((ia.max() + 1, ib.max() + 1))
            np.add.at(joint, (ia, ib), 1.0)
            joint /= len(a)
            outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
            seen = joint > 0
            return float((joint[seen] * np.log2(joint[seen] / outer[seen])).sum())""", "natural log"),
    ("09", "labels-as-indices", """
        def discrete_mutual_info(a, b):
            joint = np.zeros((a.max() + 1, b.max() + 1))
            np.add.at(joint, (a, b), 1.0)
            joint /= len(a)
            outer = joint.sum(1, keepdims=True) * joint.sum(0, keepdims=True)
            seen = joint > 0
            return float((joint[seen] * np.log(joint[seen] / outer[seen])).sum())""", "I(a; b)"),
    ("09", "wrong-axis", """
        def mig_from_mi(mi, entropies):
            top = np.sort(mi, axis=1)[:, ::-1]
            return float(np.mean((top[:, 0] - top[:, 1]) / entropies[: len(mi)].mean()))""", "MIG of"),
    ("09", "one-permutation-for-all-dims", """
        def permute_dims(z, generator=None):
            return z[torch.randperm(len(z), generator=generator)]""", "one permutation per dimension"),
    ("09", "permuted-across-dims", """
        def permute_dims(z, generator=None):
            order = torch.rand(z.shape, generator=generator).argsort(1)
            return z.gather(1, order)""", "keep its own values"),
    ("09", "generator-ignored", """
        def permute_dims(z, generator=None):
            return z.gather(0, torch.rand(z.shape).argsort(0))""", "draw them from generator"),
    ("09", "raw-variance", """
        def least_variance_latent(codes, std, min_std=0.05):
            active = std >= min_std
            if not active.any():
                return -1
            return int(np.where(active, codes.var(0), np.inf).argmin())""", "whose raw variance is the smallest"),
    ("09", "argmax", """
        def least_variance_latent(codes, std, min_std=0.05):
            active = std >= min_std
            if not active.any():
                return -1
            return int(np.where(active, (codes / np.where(active, std, 1)).var(0), -np.inf).argmax())""",
     "of the largest normalised variance"),
    ("09", "batch-std", """
        def least_variance_latent(codes, std, min_std=0.05):
            active = std >= min_std
            if not active.any():
                return -1
            return int(np.where(active, (codes / codes.std(0)).var(0), np.inf).argmin())""",
     "not the batch's own"),
    ("09", "collapsed-kept", """
        def least_variance_latent(codes, std, min_std=0.05):
            if not (std >= min_std).any():
                return -1
            return int((codes / std).var(0).argmin())""", "leave out the latents with s_j < min_std"),
    ("10", "swapped", """
        def hierarchical_split(log_qz, log_q_groups, log_q_dims):
            log_groups = log_q_groups.sum(1)
            return log_groups - log_q_dims.sum(1), log_qz - log_groups""", "between = log q(z)"),
    ("10", "naive-logsumexp", """
        def log_q_groups_mws(z, mu, logvar, dataset_size, groups):
            log_q = log_normal(z[:, None, :], mu[None], logvar[None])
            log_nm = math.log(dataset_size * len(z))
            return torch.stack([torch.log(log_q[:, :, g].sum(2).exp().sum(1)) - log_nm for g in groups], dim=1)""",
     "use torch.logsumexp"),
    ("10", "sum-not-mean", """
        def hierarchical_tc_mws(z, mu, logvar, dataset_size, groups):
            dims = list(range(z.shape[1]))
            log_qz = log_q_groups_mws(z, mu, logvar, dataset_size, [dims])[:, 0]
            log_q_dims = log_q_groups_mws(z, mu, logvar, dataset_size, [[d] for d in dims])
            between, within = hierarchical_split(log_qz, log_q_groups_mws(z, mu, logvar, dataset_size, groups),
                                                 log_q_dims)
            log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
            return {"between": between.sum(), "within": within.sum(), "dwkl": (log_q_dims - log_pz).sum()}""",
     "between with groups"),
    ("11", "F-one-hot", """
        def one_hot(y, n_classes):
            return torch.nn.functional.one_hot(y, n_classes)""", "must return floats"),
    ("11", "no-validation", """
        def one_hot(y, n_classes):
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y.long()] = 1.0
            return codes""", "raised IndexError"),
    ("11", "bool-accepted", """
        def one_hot(y, n_classes):
            if y.is_floating_point():
                raise TypeError("y must be integers")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError(f"labels must lie in [0, {n_classes}), got {y.tolist()}")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y.long()] = 1.0
            return codes""", "boolean labels"),
    ("11", "empty-fails", """
        def one_hot(y, n_classes):
            if y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError("y must be integers")
            if int(y.min()) < 0 or int(y.max()) >= n_classes:
                raise ValueError("labels out of range")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y.long()] = 1.0
            return codes""", "empty batch"),
    ("11", "int64-only", """
        def one_hot(y, n_classes):
            if y.dtype != torch.int64:
                raise TypeError("y must be int64")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError("labels out of range")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y] = 1.0
            return codes""", "int32 labels"),
    ("12", "argmax", """
        def quantize(z_e, codebook):
            indices = (z_e.unsqueeze(1) - codebook.unsqueeze(0)).pow(2).sum(-1).argmax(1)
            return codebook[indices], indices""", "indices"),
    ("12", "int32-indices", """
        def quantize(z_e, codebook):
            indices = (z_e.unsqueeze(1) - codebook.unsqueeze(0)).pow(2).sum(-1).argmin(1).int()
            return codebook[indices], indices""", "dtype torch.int64"),
    ("12", "no-detach", """
        def straight_through(z_e, z_q):
            return z_e + (z_q - z_e)""", "the codebook got a gradient"),
    ("14", "time-reversed", """
        def flow_matching_loss(model, z, generator=None):
            t = torch.rand(len(z), generator=generator, dtype=z.dtype)
            eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
            x_t = t[:, None] * eps + (1 - t[:, None]) * z
            return (model(x_t, t) - (z - eps)).pow(2).sum(1).mean()""", "time reversed"),
    ("14", "target-z", """
        def flow_matching_loss(model, z, generator=None):
            t = torch.rand(len(z), generator=generator, dtype=z.dtype)
            eps = torch.randn(z.shape, generator=generator, dtype=z.dtype)
            x_t = (1 - t[:, None]) * eps + t[:, None] * z
            return (model(x_t, t) - z).pow(2).sum(1).mean()""", "not the code z"),
    ("14", "shared-eps", """
        def flow_matching_loss(model, z, generator=None):
            t = torch.rand(len(z), generator=generator, dtype=z.dtype)
            eps = torch.randn(1, z.shape[1], generator=generator, dtype=z.dtype)
            x_t = (1 - t[:, None]) * eps + t[:, None] * z
            return (model(x_t, t) - (z - eps)).pow(2).sum(1).mean()""", "eps is shared across the batch"),
    ("14", "loss-ignores-generator", """
        def flow_matching_loss(model, z, generator=None):
            t = torch.rand(len(z), dtype=z.dtype)
            eps = torch.randn(z.shape, dtype=z.dtype)
            x_t = (1 - t[:, None]) * eps + t[:, None] * z
            return (model(x_t, t) - (z - eps)).pow(2).sum(1).mean()""", "equally seeded generators"),
    ("14", "euler-ignores-generator", """
        def euler_sample(velocity, n, D, steps, generator=None):
            x, h = torch.randn(n, D), 1.0 / steps
            for i in range(steps):
                x = x + h * velocity(x, torch.full((n,), i * h))
            return x""", "equally seeded generators"),
    ("14", "one-step-too-many", """
        def euler_sample(velocity, n, D, steps, generator=None):
            x, h = torch.randn(n, D, generator=generator), 1.0 / steps
            for i in range(steps + 1):
                x = x + h * velocity(x, torch.full((n,), i * h))
            return x""", "one step too many or too few"),
    ("14", "one-step-too-few", """
        def euler_sample(velocity, n, D, steps, generator=None):
            x, h = torch.randn(n, D, generator=generator), 1.0 / steps
            for i in range(1, steps):
                x = x + h * velocity(x, torch.full((n,), i * h))
            return x""", "one step too many or too few"),
    ("14", "time-at-step-end", """
        def euler_sample(velocity, n, D, steps, generator=None):
            x, h = torch.randn(n, D, generator=generator), 1.0 / steps
            for i in range(steps):
                x = x + h * velocity(x, torch.full((n,), (i + 1) * h))
            return x""", "the times t_i"),
]

# The mistakes that slipped through hand-picked inputs (issue 17): each is now caught by the
# differential check over the docstring's domain, or by a guard every call goes through.
MISTAKES += [
    # float64 hard-coded: right for the hand checks' float64 codes, wrong for float32 ones
    ("14", "float64-draws", """
        def flow_matching_loss(model, z, generator=None):
            t = torch.rand(len(z), generator=generator, dtype=torch.float64)
            eps = torch.randn(z.shape, generator=generator, dtype=torch.float64)
            x_t = (1 - t[:, None]) * eps + t[:, None] * z
            return (model(x_t, t) - (z - eps)).pow(2).sum(1).mean()""",
     "flow_matching_loss disagrees with the reference solution"),
    ("07", "squeeze-channel", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            rec = (x * logits - F.softplus(logits)).sum((2, 3)).squeeze(1)
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1) - rec""",
     "negative_elbo_bernoulli: expected shape (1,), got (1, 2)"),
    ("07", "squeeze-channel-beta", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            rec = (x.squeeze(1) * logits.squeeze(1) - F.softplus(logits.squeeze(1))).sum((1, 2))
            return -(rec - beta * kl).mean(), rec, kl""", "rec: expected shape (1,), got (1, 1)"),
    ("08", "squeeze-channel", """
        def beta_vae_loss(x, logits, mu, logvar, beta):
            log_px = (x * logits - F.softplus(logits)).sum((2, 3)).squeeze(1)
            kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)
            return (-log_px + beta * kl).mean()""", "x = torch.tensor([[[[0.]], [[0.]]]])"),
    ("08", "sorts-values", """
        def latent_traversal(decode, z0, dim, values):
            z = z0.repeat(len(values), 1)
            z[:, dim] = torch.sort(values).values
            return decode(z)""", "values = torch.tensor([-0.5, -2.])"),
    ("11", "uint8-int8-int16-as-index", """
        def one_hot(y, n_classes):
            if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError(f"y must be an integer tensor, got {type(y).__name__}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError(f"y must hold labels in [0, {n_classes}), got [{int(y.min())}, {int(y.max())}]")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y] = 1.0
            return codes""", "for this valid input your code raised IndexError"),
    ("11", "list-attributeerror", """
        def one_hot(y, n_classes):
            if y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError(f"y must be an integer tensor, got {y.dtype}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError(f"y must hold labels in [0, {n_classes}), got [{int(y.min())}, {int(y.max())}]")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y.long()] = 1.0
            return codes""", "your code raised AttributeError: 'list' object has no attribute 'is_floating_point'; "
                             "expected a TypeError"),
    ("11", "vague-valueerror", """
        def one_hot(y, n_classes):
            if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError(f"y must be an integer tensor, got {type(y).__name__}")
            if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
                raise ValueError("a label is out of range")
            codes = torch.zeros(len(y), n_classes)
            codes[torch.arange(len(y)), y.long()] = 1.0
            return codes""", "your ValueError says 'a label is out of range'; the docstring says its message names"),
    ("12", "mask-float64", """
        def causal_mask(kernel_size, include_centre):
            c = kernel_size // 2
            mask = torch.zeros(kernel_size, kernel_size, dtype=torch.float64)
            mask[:c] = 1
            mask[c, :c + int(include_centre)] = 1
            return mask""", "causal_mask: expected dtype torch.float32 (as the docstring says), got torch.float64"),
    ("03", "masking-negative-level", """
        def corrupt(x, kind, level, generator=None):
            processes = {"gaussian": gaussian_noise, "masking": masking_noise, "salt_and_pepper": salt_and_pepper_noise}
            if kind not in processes:
                raise ValueError(f"kind must be one of {list(processes)}, got {kind!r}")
            if (kind == "gaussian" and level < 0) or (kind != "gaussian" and level > 1):
                raise ValueError(f"bad level {level}")
            return processes[kind](x, level, generator)""",
     "expected a ValueError for masking with the negative level -0.1, but nothing was raised"),
    ("05", "batched-covariance", """
        def mc_elbo(model, x, q_mean, q_cov, n_samples, generator=None):
            L = torch.linalg.cholesky(q_cov)
            eps = torch.randn(n_samples, *q_mean.shape, generator=generator, dtype=q_mean.dtype)
            z = q_mean + eps @ L.T
            return (model.log_joint(x, z) - log_gaussian(z, q_mean, q_cov)).mean(0)""",
     "q_cov = torch.tensor([[[0.09]], [[0.09]]])"),
    ("06", "batch-mean-baseline", """
        def score_function_grad(f, mu, sigma, n, generator=None):
            eps = torch.randn((n, *mu.shape), generator=generator, dtype=mu.dtype)
            fz = f(mu + sigma * eps)
            fz = (fz - fz.mean()).reshape(n, *([1] * mu.dim()))
            return fz * eps / sigma, fz * (eps.pow(2) - 1) / sigma""", "g_mu (one estimate per sample): expected"),
    ("03", "in-place-masking", """
        def masking_noise(x, level, generator=None):
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
            x[u < level] = 0
            return x""", "your function masking_noise changed its argument x in place; work on a copy"),
    ("04", "in-place-centring", """
        def fit_gaussian(z):
            mu = z.mean(0)
            z -= mu
            return mu, z.T @ z / len(z)""",
     "your function fit_gaussian changed its argument z in place; work on a copy"),
    ("12", "z_q-detached-from-the-codebook", """
        def quantize(z_e, codebook):
            indices = (z_e.unsqueeze(1) - codebook.unsqueeze(0)).pow(2).sum(-1).argmin(1)
            return codebook[indices].detach(), indices""",
     "no gradient reaches codebook: the result of quantize (its z_q)"),
    ("06", "detached-noise-term", """
        def reparameterize(mu, logvar, generator=None):
            eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
            return mu + (torch.exp(0.5 * logvar) * eps).detach()""", "no gradient reaches logvar"),
]


def _wrong_module(number: str, source: str):
    path = ex.find_exercise(number, SOLUTIONS)
    module = ex.load_module(path)
    exec(textwrap.dedent(source), module.__dict__)
    return path, module


def failures_of(number: str, source: str, time_limit: float = ex.TIME_LIMIT) -> list[str]:
    """The failure messages of every task of exercise ``number`` with ``source`` swapped in."""
    path, module = _wrong_module(number, source)
    results = [ex.run_task(check, module, ex.task_hint(path, check), time_limit=time_limit)
               for _, check in ex.tasks_of(path)]
    return [r for r in results if r is not None]


@pytest.mark.parametrize("number,source,phrase", [pytest.param(n, s, p, id=f"ex{n}-{name}")
                                                  for n, name, s, p in MISTAKES])
def test_checker_catches_the_mistake(number, source, phrase):
    failures = failures_of(number, source, time_limit=2 if phrase == "too slow" else ex.TIME_LIMIT)
    assert failures, "the wrong answer passed every check"
    assert any(phrase in f for f in failures), failures
    for failure in failures:
        assert re.search(r'\nHint: see notebook \d\d, section "', failure), failure


# Other correct answers: the checks compare values within a tolerance that round-off of another
# order of operations stays inside, accept any of tied nearest codes, and signs of components.
CORRECT = [
    ("01", "eigh-of-the-covariance", """
        def pca_svd(x, k):
            mean = x.mean(0)
            values, vectors = torch.linalg.eigh((x - mean).T @ (x - mean) / (len(x) - 1))
            return mean, vectors.flip(1)[:, :k].T.contiguous(), values.flip(0)[:k]"""),
    ("01", "angles-in-float64", """
        def principal_angles(a, b):
            q_a, q_b = torch.linalg.qr(a.double())[0], torch.linalg.qr(b.double())[0]
            return torch.rad2deg(torch.arccos(torch.linalg.svdvals(q_a.T @ q_b).clamp(0, 1))).to(a.dtype)"""),
    ("02", "mse-loss", """
        def training_step(model, optimizer, x):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), x)
            loss.backward()
            optimizer.step()
            return loss.item()"""),
    ("03", "where", """
        def masking_noise(x, level, generator=None):
            u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
            return torch.where(u < level, torch.zeros_like(x), x)"""),
    ("04", "einsum", """
        def fit_gaussian(z):
            mu = z.sum(0) / len(z)
            c = z - mu
            return mu, torch.einsum("ni,nj->ij", c, c) / len(z)"""),
    ("05", "torch-distributions", """
        def kl_normal_std(mu, logvar):
            q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
            p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
            return torch.distributions.kl_divergence(q, p).sum(-1)"""),
    ("06", "std-first", """
        def reparameterize(mu, logvar, generator=None):
            std = logvar.mul(0.5).exp()
            return torch.randn(mu.shape, generator=generator, dtype=mu.dtype) * std + mu"""),
    ("07", "bce-with-logits", """
        def negative_elbo_bernoulli(x, logits, mu, logvar):
            rec = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(dim=(1, 2, 3))
            return rec + 0.5 * torch.sum(mu ** 2 + logvar.exp() - 1 - logvar, dim=1)"""),
    ("08", "rows-stacked", """
        def latent_traversal(decode, z0, dim, values):
            rows = [torch.cat([z0[:dim], v.reshape(1), z0[dim + 1:]]) for v in values]
            return decode(torch.stack(rows))"""),
    ("09", "sklearn-mutual-info", """
        def discrete_mutual_info(a, b):
            from sklearn.metrics import mutual_info_score
            return float(mutual_info_score(a, b))"""),
    ("09", "a-randperm-per-column", """
        def permute_dims(z, generator=None):
            columns = [z[torch.randperm(len(z), generator=generator), j] for j in range(z.shape[1])]
            return torch.stack(columns, 1)"""),
    ("10", "a-loop-over-groups", """
        def log_q_groups_mws(z, mu, logvar, dataset_size, groups):
            out = []
            for g in groups:
                lq = log_normal(z[:, None, g], mu[None][:, :, g], logvar[None][:, :, g]).sum(2)
                out.append(torch.logsumexp(lq, 1) - math.log(dataset_size) - math.log(len(z)))
            return torch.stack(out, 1)"""),
    ("11", "functional-one-hot", """
        def one_hot(y, n_classes):
            if not isinstance(y, torch.Tensor) or y.is_floating_point() or y.dtype == torch.bool:
                raise TypeError("y must be an integer tensor")
            y = y.long()  # int8 labels compared with n_classes = 200 would wrap it to -56
            bad = y[(y < 0) | (y >= n_classes)]
            if len(bad):
                raise ValueError(f"labels must lie in [0, {n_classes}); found {bad.tolist()}")
            return torch.nn.functional.one_hot(y.long(), n_classes).float()"""),
    ("12", "expanded-distances", """
        def quantize(z_e, codebook):
            d = (z_e ** 2).sum(1, keepdim=True) - 2 * z_e @ codebook.T + (codebook ** 2).sum(1)
            indices = d.argmin(1)
            return codebook[indices], indices"""),
    ("12", "detach-the-other-way", """
        def straight_through(z_e, z_q):
            return z_q.detach() + z_e - z_e.detach()"""),
]


@pytest.mark.parametrize("number,source", [pytest.param(n, s, id=f"ex{n}-{name}") for n, name, s in CORRECT])
def test_checker_accepts_another_correct_answer(number, source):
    assert failures_of(number, source) == []


IN_PLACE = [("03", 1, """
        def masking_noise(x, level, generator=None):
            x[torch.rand(x.shape, generator=generator, dtype=x.dtype) < level] = 0
            return x""", "masking_noise", "x"),
            ("04", 0, """
        def fit_gaussian(z):
            mu = z.mean(0)
            z -= mu
            return mu, z.T @ z / len(z)""", "fit_gaussian", "z")]


@pytest.mark.parametrize("number,task,source,name,argument", IN_PLACE)
def test_a_changed_argument_is_what_the_learner_reads_first(number, task, source, name, argument):
    """Before the guard, ex03 said "expected 0.3, got 0.0" and ex04 compared with an expected
    value computed from the already-changed input."""
    path, module = _wrong_module(number, source)
    failure = ex.run_task(ex.tasks_of(path)[task][1], module)
    assert failure.startswith(f"your function {name} changed its argument {argument} in place; work on a copy"), failure


SORTS = """
        def latent_traversal(decode, z0, dim, values):
            z = z0.repeat(len(values), 1)
            z[:, dim] = values.sort().values
            return decode(z)"""


def test_the_differential_check_is_deterministic_and_writes_nothing():
    folder = storage_directory(intent_to_write=False).path
    before = sorted(folder.rglob("*")) if folder.exists() else []
    first, second = failures_of("08", SORTS), failures_of("08", SORTS)
    assert first == second and "the smallest of" in first[0], first
    assert (sorted(folder.rglob("*")) if folder.exists() else []) == before


def test_the_differential_check_shows_the_input_the_expected_and_the_actual_value():
    with pytest.raises(AssertionError) as err:
        differential.differential("total", lambda x: x[:1].sum(), lambda x: x.sum(),
                                  st.fixed_dictionaries({"x": differential.tensors((2,), low=0.0, high=1.0)}))
    message = str(err.value)
    assert message.startswith("total disagrees with the reference solution on this input")
    assert "\n    x = torch.tensor([" in message and "total: expected " in message and ", got " in message


def test_a_stub_inside_the_differential_check_is_not_started_not_a_failure():
    def stub(x):
        raise NotImplementedError("see notebook 99")
    with pytest.raises(NotImplementedError, match="see notebook 99"):
        differential.differential("f", stub, lambda x: x, st.fixed_dictionaries({"x": st.just(torch.ones(1))}))


def test_a_missing_gradient_names_the_input():
    mu, logvar = torch.zeros(3, requires_grad=True), torch.zeros(3, requires_grad=True)
    with pytest.raises(AssertionError, match="^no gradient reaches logvar: "):
        differential.expect_gradients("reparameterize", mu + logvar.detach(), {"mu": mu, "logvar": logvar})
    with pytest.raises(AssertionError, match="^a gradient reaches z_q through straight_through"):
        differential.expect_gradients("straight_through", mu + logvar, {"mu": mu, "z_q": logvar}, must_not=("z_q",))
