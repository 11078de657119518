"""The quick model switch's file: written by the CLI/tray, read cheaply by the proxy on every request."""

from __future__ import annotations

import os
from pathlib import Path

from ccproxy_desktop.config.override import OverrideFile
from ccproxy_desktop.pipeline.router import ModelChoice


def test_missing_file_means_automatic_routing(tmp_path: Path) -> None:
    assert OverrideFile(tmp_path / "model-override.json").read() is None


def test_write_read_and_back_to_auto(tmp_path: Path) -> None:
    path = tmp_path / "model-override.json"
    writer, reader = OverrideFile(path), OverrideFile(path)
    writer.write(ModelChoice("think", force_all=True))
    assert reader.read() == ModelChoice("think", force_all=True)
    writer.write(ModelChoice("default"))
    assert reader.read() == ModelChoice("default")
    writer.write(None)
    assert reader.read() is None and not path.exists()


def test_unchanged_file_is_not_read_again(tmp_path: Path) -> None:
    path = tmp_path / "model-override.json"
    OverrideFile(path).write(ModelChoice("think"))
    reader = OverrideFile(path)
    assert reader.read() == ModelChoice("think")
    stat = path.stat()
    path.write_text(path.read_text().replace("think", "THINK"))  # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: only a stat is done, no read
    assert reader.read() == ModelChoice("think")
    path.write_text(path.read_text() + " ")
    assert reader.read() == ModelChoice("THINK")


def test_garbage_in_the_file_means_automatic_routing(tmp_path: Path) -> None:
    path = tmp_path / "model-override.json"
    path.write_text("{not json")
    assert OverrideFile(path).read() is None
    path.write_text('{"model": 42}')
    assert OverrideFile(path).read() is None
