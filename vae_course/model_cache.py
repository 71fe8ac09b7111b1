"""The model cache: trained weights kept on disk under a key of everything that decides them.

A file lives in ``config.cache_dir() / "models"`` (never the repository). Its key is a hex
digest of a description of the training (the model, its loss and weights, the steps, the seed:
whatever the caller says decides the weights), the training data, and the code that trains it
(its syntax tree, docstrings and comments left out: a typo fixed in one retrains nothing). A
file is written atomically (``files.atomic_path``: whole or not at all); one whose key does not
match, or that cannot be read, is ignored and overwritten. Used by the sprites recipe
(notebooks 08-10, 13), by notebook 13's line-up of digit models and by notebook 07's and
12's networks (``chapter_models``).
"""
from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch

from vae_course import config, files

VERSION = 1
# The modules whose code decides what any cached model learns: a change to one retrains it.
TRAINING_CODE = ("models", "losses", "estimators", "objectives", "gradients", "train")


def code_fingerprint(sources: Sequence[str]) -> str:
    """A hex digest of what Python *runs* in ``sources`` (module texts): each parsed, its
    docstrings dropped, and dumped as a syntax tree, so that comments, docstrings and layout
    can change without retraining anything, while any change to the code itself does."""
    digest = hashlib.sha256()
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if (isinstance(body, list) and body and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
        digest.update(ast.dump(tree).encode())
    return digest.hexdigest()


def module_sources(names: Sequence[str]) -> list[str]:
    """The texts of the package's modules ``names`` (e.g. ``TRAINING_CODE``)."""
    here = Path(__file__).resolve().parent
    return [(here / f"{name}.py").read_text(encoding="utf-8") for name in names]


def cache_key(described: dict, data: Sequence[torch.Tensor], code: Sequence[str]) -> str:
    """A hex digest of ``described`` (JSON-able: what decides the weights), the tensors ``data``
    trained on, and the ``code`` (module texts) that trains them."""
    text = json.dumps({"version": VERSION, **described, "code": code_fingerprint(code)}, sort_keys=True)
    digest = hashlib.sha256(text.encode())
    for tensor in data:
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_path(name: str, key: str) -> Path:
    """Where the model of ``key`` is kept: ``config.cache_dir() / "models" / "<name>-<key>.pt"``
    (the key's first 16 hex digits)."""
    return config.cache_dir() / "models" / f"{name}-{key[:16]}.pt"


def load(path: Path, key: str, model: torch.nn.Module | None = None) -> dict | None:
    """The payload saved at ``path`` under ``key`` (its "state_dict" loaded into ``model`` unless
    None), or None when the file is missing, stale or unreadable."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if saved.get("key") != key:
            return None
        if model is not None:
            model.load_state_dict(saved["state_dict"])
    except Exception:  # a truncated, foreign or older file: train afresh and overwrite it
        return None
    return saved


def save(path: Path, key: str, model: torch.nn.Module, **extra) -> Path:
    """Write ``model``'s weights under ``key`` (with the JSON-able or tensor ``extra`` entries,
    e.g. seconds and history) to ``path``, whole or not at all; return ``path``."""
    payload = {"key": key, "state_dict": model.state_dict(), **extra}
    with files.atomic_path(path) as partial:  # a half-written model would load as garbage
        torch.save(payload, partial)
    return path
