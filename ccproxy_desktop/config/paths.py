"""Where ccproxy-desktop keeps its files (the contract in DESIGN.md: `~/.ccproxy`, `CCPROXY_CONFIG_DIR`)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ConfigPaths", "create_private_file"]

CONFIG_DIR_ENV = "CCPROXY_CONFIG_DIR"


@dataclass(frozen=True)
class ConfigPaths:
    """Every file of one config folder. Pure: building one touches nothing on disk."""

    config_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ConfigPaths:
        env = os.environ if environ is None else environ
        raw = env.get(CONFIG_DIR_ENV)
        base = Path(raw).expanduser() if raw else Path.home() / ".ccproxy"
        return cls(base.absolute())

    @property
    def ccproxy_yaml(self) -> Path:
        return self.config_dir / "ccproxy.yaml"

    @property
    def litellm_yaml(self) -> Path:
        return self.config_dir / "config.yaml"

    @property
    def ledger_db(self) -> Path:
        return self.config_dir / "ledger.db"

    @property
    def proxy_log(self) -> Path:
        return self.config_dir / "proxy.log"

    @property
    def run_dir(self) -> Path:
        """Runtime files: pid/state of the running proxy and the effective LiteLLM config."""
        return self.config_dir / "run"

    @property
    def state_file(self) -> Path:
        return self.run_dir / "proxy.json"

    @property
    def subscription_file(self) -> Path:
        """The Claude subscription's limits as the provider's responses last reported them, per account."""
        return self.run_dir / "subscription.json"

    @property
    def effective_litellm_yaml(self) -> Path:
        return self.run_dir / "litellm.config.yaml"

    @property
    def credentials_file(self) -> Path:
        """Plaintext credentials, used only with `credential_store: file`."""
        return self.config_dir / "credentials.json"

    @property
    def credentials_changed(self) -> Path:
        """Touched by `ccproxy auth` after it changes stored credentials, so a running proxy re-reads them."""
        return self.config_dir / "credentials.changed"

    @property
    def master_key_file(self) -> Path:
        return self.config_dir / "master.key"

    @property
    def model_override_file(self) -> Path:
        return self.config_dir / "model-override.json"


def atomic_write(target: Path, data: bytes, mode: int | None = 0o600) -> None:
    """Replace `target` with `data` in one rename: readers see the old or the new file, never a part. With
    `mode` (default 0600) the file is never readable by others, not even for a moment; `mode` None creates it
    with the default permissions (0666 less the umask). The one atomic write of the package."""
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.ccproxy-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_private_file(path: Path, content: str) -> None:
    """Write `content` to `path` (0600, atomically), creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, content.encode(), 0o600)
