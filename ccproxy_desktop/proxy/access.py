"""Who may talk to the proxy: client addresses, browser origins and Host names (ccproxy.yaml
`litellm.allowed_clients`, `allowed_origins`, `allowed_hosts`), read by the `Guard` in the proxy process."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..config.schema import ServerSection

__all__ = [
    "LOOPBACK_HOSTS",
    "LOOPBACK_NETWORKS",
    "Access",
    "IPNetwork",
    "access_environment",
    "client_allowed",
]

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK_NETWORKS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


@dataclass(frozen=True)
class Access:
    """Who may talk to the proxy besides loopback clients without a browser `Origin`.

    The proxy process gets it from its environment: `CCPROXY_ALLOWED_ORIGINS` (browser origins, `*` any),
    `CCPROXY_ALLOWED_HOSTS` (Host names, `*` any; default loopback names) and `CCPROXY_ALLOWED_CLIENTS`
    (client networks added to loopback), comma-separated; `access_environment` sets them from ccproxy.yaml.
    """

    origins: frozenset[str] = frozenset()
    hosts: frozenset[str] = LOOPBACK_HOSTS
    clients: tuple[IPNetwork, ...] = LOOPBACK_NETWORKS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Access:
        def split(name: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in environ.get(name, "").split(",") if v.strip())

        return cls(
            origins=frozenset(split("CCPROXY_ALLOWED_ORIGINS")),
            hosts=frozenset(split("CCPROXY_ALLOWED_HOSTS")) or LOOPBACK_HOSTS,
            clients=(
                *LOOPBACK_NETWORKS,
                *(ipaddress.ip_network(n, strict=False) for n in split("CCPROXY_ALLOWED_CLIENTS")),
            ),
        )


def client_allowed(address: str, networks: Collection[IPNetwork]) -> bool:
    """True if the peer `address` is in one of `networks` (an IPv4-mapped IPv6 address counts as IPv4)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in networks)


def access_environment(server: ServerSection) -> dict[str, str]:
    """`litellm.allowed_*` for the Guard (`Access.from_environment`). Listening on a non-loopback address
    lets in any Host name unless `allowed_hosts` says which; client addresses stay loopback-only unless
    `allowed_clients` lists networks."""
    env = {"CCPROXY_ALLOWED_ORIGINS": ",".join(server.allowed_origins)}
    if server.allowed_hosts:
        own = (
            () if server.host in LOOPBACK_HOSTS else (server.host,)
        )  # `ccproxy status` asks the bind address
        env["CCPROXY_ALLOWED_HOSTS"] = ",".join((*sorted(LOOPBACK_HOSTS), *own, *server.allowed_hosts))
    elif server.host not in LOOPBACK_HOSTS:
        env["CCPROXY_ALLOWED_HOSTS"] = "*"
    else:
        env["CCPROXY_ALLOWED_HOSTS"] = ""
    env["CCPROXY_ALLOWED_CLIENTS"] = ",".join(server.allowed_clients)
    return env
