"""Writing files whole or not at all: the target appears only when the writing succeeded, and
no temporary file or folder is left behind, whatever stopped the writing (Ctrl-C included)."""
import os
import stat

import pytest

from vae_course import files


def test_a_successful_write_lands_on_the_target_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "model.pt"  # the folder is created
    with files.atomic_path(target) as tmp:
        assert tmp.name == target.name and list(tmp.parent.iterdir()) == []  # a folder of its own
        assert not target.exists()
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.pt"]


@pytest.mark.parametrize("stop", [ValueError("the writer failed"), KeyboardInterrupt()])
def test_a_write_that_stops_keeps_the_old_file_and_leaves_no_temporary(tmp_path, stop):
    target = tmp_path / "page.html"
    target.write_text("old")
    with pytest.raises(type(stop)):
        with files.atomic_path(target) as tmp:
            tmp.write_text("half of the new")
            raise stop
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["page.html"]


def test_write_text_atomic_leaves_no_part_file_when_encoding_fails(tmp_path):
    target = tmp_path / "deck.html"
    with pytest.raises(UnicodeEncodeError):
        files.write_text_atomic(target, "a lone surrogate \ud800 cannot be UTF-8")
    assert list(tmp_path.iterdir()) == []
    assert files.write_text_atomic(target, "é") == target
    assert target.read_text(encoding="utf-8") == "é"


def test_the_file_gets_the_permissions_of_an_ordinary_write(tmp_path):
    (tmp_path / "plain").write_text("x")
    files.write_text_atomic(tmp_path / "atomic", "x")
    mode = lambda name: stat.S_IMODE(os.stat(tmp_path / name).st_mode)  # noqa: E731
    assert mode("atomic") == mode("plain")
