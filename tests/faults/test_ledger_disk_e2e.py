"""The ledger's disk fills up under a running proxy.

The config folder (ledger, log, state file) sits on a real file system of its own: a 24 MB tmpfs mounted for
the test, which a filler file makes full, as a full home partition would. SQLite, the log handler and the proxy
meet a real ENOSPC, with nothing faked; root writes through `chmod`, so a mount is the honest way. It needs the
right to mount (root or CAP_SYS_ADMIN, as in CI): elsewhere the test is skipped.

A disk turning read-only under the proxy is not tested here: the kernel refuses to remount read-only a file
system with files open for writing (EBUSY), so it happens only through I/O errors (`errors=remount-ro`) that
need a block device. The writer treats that failure like this one (a failed transaction, kept and retried);
tests/ledger covers a read-only ledger file.

What must hold: requests keep being served; `ccproxy status --health` says the ledger can't be written (the
log can't say it: it is on the same disk); when space comes back the rows kept in memory are written, so
nothing is lost while the proxy runs, and the file passes `PRAGMA integrity_check`.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import pytest

from ccproxy_desktop.config.paths import ConfigPaths
from ccproxy_desktop.testing.configs import free_port, write_fake_config
from ccproxy_desktop.testing.fake_provider import FakeProvider
from ccproxy_desktop.testing.helpers import ledger_integrity, run_ccproxy, wait_for, wait_for_rows
from ccproxy_desktop.testing.proxy_runner import running_proxy

pytestmark = pytest.mark.proxy

DISK_SIZE = "24m"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small file system of its own, mounted at a fresh folder; unmounted at the end."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE},mode=0700", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=False)


def fill(path: Path) -> None:
    """Write `path` until the file system says it is full (ENOSPC)."""
    with path.open("wb", buffering=0) as filler:
        for chunk in (1 << 20, 4096, 512):
            while True:
                try:
                    filler.write(b"\0" * chunk)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC, exc
                    break


def ask(client: anthropic.Anthropic, n: int, label: str) -> None:
    """`n` requests, half streamed; each must be answered."""
    for i in range(n):
        messages: Any = [{"role": "user", "content": f"{label} {i}"}]
        if i % 2:
            with client.messages.stream(model="claude-opus-4-8", max_tokens=20, messages=messages) as stream:
                assert stream.get_final_message().content
        else:
            assert client.messages.create(model="claude-opus-4-8", max_tokens=20, messages=messages).content


def health(paths: ConfigPaths) -> dict[str, Any]:
    done = run_ccproxy(paths, "status", "--json", "--health")
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout)["health"])


def writer_state(paths: ConfigPaths) -> dict[str, Any]:
    """The proxy's ledger writer as `status --health` shows it: `pending`, `last_error`."""
    return dict(health(paths).get("ledger", {}))


def test_a_full_disk_keeps_the_proxy_serving_and_loses_no_rows(provider: FakeProvider, disk: Path) -> None:
    paths = write_fake_config(disk / "cfg", provider.base_url, free_port())
    with running_proxy(paths) as proxy:
        client = anthropic.Anthropic(base_url=proxy.url, api_key=proxy.key, max_retries=0, timeout=30)
        assert httpx.get(f"{proxy.url}/ccproxy/status").status_code == 401  # the endpoint needs the key
        ask(client, 2, "before")
        assert wait_for_rows(paths, 2) == 2

        filler = disk / "filler"
        fill(filler)
        ask(client, 6, "full")  # served although nothing can be written
        wait_for(lambda: writer_state(paths).get("pending") == 6, timeout=30)
        report = health(paths)
        assert "full" in report["ledger"]["last_error"]  # "OperationalError: database or disk is full"
        assert report["ledger"]["pending"] == 6
        assert any(
            "the proxy cannot write to the ledger (6 requests waiting" in w for w in report["warnings"]
        )

        filler.unlink()  # space comes back: the rows kept in memory are written
        assert wait_for_rows(paths, 8, timeout=30) == 8
        assert writer_state(paths) == {"pending": 0, "last_error": None}

        assert ledger_integrity(paths) == "ok"
        log = proxy.log_text()
        assert "writing again after" in log  # the warning itself could not be logged: the log is on that disk
