"""Writing files whole or not at all.

A file is written under a temporary name in a fresh folder beside its target and renamed onto
the target (``os.replace``, atomic within one file system) only when the writing succeeded; on
any exception, Ctrl-C included, the temporary folder is removed with whatever it holds. So a
reader of the target sees the old file, the new one, or none: never half of one.
"""
from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s content to; on success it is moved onto ``path``.

    The temporary path is ``<folder>/.<name>.XXXX.part/<name>``: a fresh folder beside ``path``
    (created with its parents if needed), holding a file of the same name, so a tool that writes
    into a folder under the file's own name (torchvision's ``extract_archive``) can write there.
    Nothing is left behind when the ``with`` block raises; the file keeps the permissions an
    ordinary ``open`` gives it.

        with atomic_path(target) as tmp:
            torch.save(payload, tmp)
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=f".{path.name}.",
                                     suffix=".part") as folder:
        tmp = Path(folder) / path.name
        yield tmp
        os.replace(tmp, path)


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` whole or not at all (see ``atomic_path``);
    return ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)
