"""`python3 -m vae_course data mnist`: fetch MNIST once, md5-checked and written atomically, with
no network: the real files in ../shared/data (when present) serve as the mirror, a closed local
port stands for being offline, and a corrupted copy for a bad download."""
import hashlib
import io
import shutil
import urllib.request
from pathlib import Path

import pytest

from vae_course import cli, data

SHARED_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist" / "MNIST" / "raw"
needs_shared = pytest.mark.skipif(not all((SHARED_RAW / f"{n}.gz").exists() for n in data.MNIST_FILES),
                                  reason=f"the MNIST files are not in {SHARED_RAW}")
OFFLINE = "http://127.0.0.1:9"  # the discard port: connection refused at once


@needs_shared
def test_fetch_writes_the_four_checked_files_and_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "MIRRORS", [SHARED_RAW.as_uri()])
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 0
    raw = tmp_path / "MNIST" / "raw"
    for name, md5 in data.MNIST_FILES.items():
        assert hashlib.md5((raw / f"{name}.gz").read_bytes()).hexdigest() == md5
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.gz" for n in data.MNIST_FILES)  # no temporaries
    assert str(raw) in capsys.readouterr().out
    assert data.mnist_available(tmp_path)
    monkeypatch.setattr(data, "MIRRORS", [OFFLINE])  # a second run finds them and fetches nothing
    assert data.fetch_mnist(tmp_path, progress=False) == tmp_path


def test_offline_says_what_to_do_in_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "MIRRORS", [OFFLINE])
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "python3 -m vae_course data mnist" in err and "digits" in err
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []


@needs_shared
def test_a_corrupt_download_is_rejected_and_not_kept(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in data.MNIST_FILES:
        shutil.copy(SHARED_RAW / f"{name}.gz", mirror)
    first = next(iter(data.MNIST_FILES))
    (mirror / f"{first}.gz").write_bytes(b"not MNIST")
    monkeypatch.setattr(data, "MIRRORS", [mirror.as_uri()])
    with pytest.raises(RuntimeError, match=r"arrived corrupt \(md5 "):
        data.fetch_mnist(tmp_path / "root", progress=False)
    assert list((tmp_path / "root" / "MNIST" / "raw").iterdir()) == []


def test_lab_passes_allow_root_when_run_as_root(monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(cli, "ensure_environment", lambda: Path("python"))
    monkeypatch.setattr(cli.subprocess, "check_output", lambda *a, **k: "/prefix\n")
    monkeypatch.setattr(cli, "_run", lambda python, args, env=None: calls.append(args) or 0)
    monkeypatch.setattr(cli.os, "geteuid", lambda: 0, raising=False)
    assert cli.main(["lab", "--port", "9999"]) == 0
    assert calls[-1][-3:] == ["--port", "9999", "--allow-root"]
    assert "running as root: passing --allow-root" in capsys.readouterr().out
    monkeypatch.setattr(cli.os, "geteuid", lambda: 1000, raising=False)
    assert cli.main(["lab"]) == 0 and "--allow-root" not in calls[-1]


def test_ctrl_c_during_the_download_keeps_no_partial_file(tmp_path, monkeypatch, capsys):
    class HalfADownload(io.BytesIO):
        headers = {"Content-Length": "2000000"}

        def read(self, size=-1):
            if self.tell():
                raise KeyboardInterrupt  # the learner presses Ctrl-C after the first chunk
            return super().read(size)

    monkeypatch.setattr(data, "MIRRORS", ["http://mirror.invalid"])
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: HalfADownload(b"x" * 1_000_000))
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list((tmp_path / "MNIST" / "raw").iterdir()) == []
