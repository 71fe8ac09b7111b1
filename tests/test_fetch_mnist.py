"""`python3 -m vae_course data mnist`: fetch MNIST once, md5-checked and whole or not at all,
with no network: the real files in ../shared/data (when present) are served over HTTP from
this machine as the mirror (torchvision's ``download_url`` cannot read ``file://`` URLs), a
closed local port stands for being offline, and a corrupted copy for a bad download."""
import functools
import hashlib
import io
import shutil
import threading
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from vae_course import cli, data

SHARED_RAW = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist" / "MNIST" / "raw"
GZ = sorted(f"{name}.gz" for name in data.MNIST_FILES)
needs_shared = pytest.mark.skipif(not all((SHARED_RAW / gz).exists() for gz in GZ),
                                  reason=f"the MNIST files are not in {SHARED_RAW}")
OFFLINE = "http://127.0.0.1:9"  # the discard port: connection refused at once


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # no request log in the test's output
        pass


@pytest.fixture
def serve():
    """``serve(folder)``: the URL of a local HTTP server of ``folder``, stopped after the test."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(QuietHandler, directory=str(folder))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.handle_error = lambda *args: None  # a client that closes early is no error here
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _files(folder: Path) -> list[str]:
    """Every file and folder under ``folder``, hidden temporaries included, relative to it."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@needs_shared
def test_fetch_writes_the_four_checked_files_and_says_where(tmp_path, monkeypatch, capsys, serve):
    monkeypatch.setattr(data, "MIRRORS", [OFFLINE, serve(SHARED_RAW)])  # the first mirror fails
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 0
    raw = tmp_path / "MNIST" / "raw"
    for name, md5 in data.MNIST_FILES.items():
        assert hashlib.md5((raw / f"{name}.gz").read_bytes()).hexdigest() == md5
    assert _files(tmp_path) == ["MNIST", "MNIST/raw", *(f"MNIST/raw/{gz}" for gz in GZ)]
    assert str(raw) in capsys.readouterr().out
    assert data.mnist_available(tmp_path)
    monkeypatch.setattr(data, "MIRRORS", [OFFLINE])  # a second run finds them and fetches nothing
    assert data.fetch_mnist(tmp_path) == tmp_path


@needs_shared
def test_load_mnist_with_download_runs_the_same_fetch(tmp_path, monkeypatch, serve):
    monkeypatch.setattr(data, "MIRRORS", [serve(SHARED_RAW)])
    monkeypatch.setenv("VAE_COURSE_CACHE", str(tmp_path / "cache"))
    ds = data.load_mnist("test", root=tmp_path / "root", download=True)
    assert ds.x.shape == (10000, 1, 28, 28) and ds.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert _files(tmp_path / "root") == ["MNIST", "MNIST/raw", *(f"MNIST/raw/{gz}" for gz in GZ)]


def test_offline_says_what_to_do_in_one_line_and_leaves_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "MIRRORS", [OFFLINE])
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "python3 -m vae_course data mnist" in err and "digits" in err
    assert _files(tmp_path) == []


@needs_shared
def test_a_corrupt_download_is_rejected_and_nothing_is_kept(tmp_path, monkeypatch, serve):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in data.MNIST_FILES:
        shutil.copy(SHARED_RAW / f"{name}.gz", mirror)
    last = list(data.MNIST_FILES)[-1]  # the three files before it arrive whole, and are dropped too
    (mirror / f"{last}.gz").write_bytes(b"not MNIST")
    monkeypatch.setattr(data, "MIRRORS", [serve(mirror)])
    with pytest.raises(RuntimeError, match=rf"could not download {last}.gz \(it arrived corrupt \(md5"):
        data.fetch_mnist(tmp_path / "root")
    assert _files(tmp_path / "root") == []


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
        length = 2_000_000

        def __init__(self, url):
            super().__init__(b"x" * 1_000_000)
            self.url = url

        def read(self, size=-1):
            if self.tell():
                raise KeyboardInterrupt  # the learner presses Ctrl-C after the first chunk
            return super().read(size)

    monkeypatch.setattr(data, "MIRRORS", ["http://mirror.invalid"])
    monkeypatch.setattr(urllib.request, "urlopen",
                        lambda request, *args, **kwargs: HalfADownload(request.full_url))
    monkeypatch.setenv("VAE_COURSE_DATA", str(tmp_path))
    assert cli.main(["data", "mnist"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert _files(tmp_path) == []
