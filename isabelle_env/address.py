"""Where a running `isabelle server` listens, and how to read that from its banner."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_BANNER = re.compile(r'server "(?P<name>[^"]*)" = (?P<host>[^\s:]+):(?P<port>\d+) \(password "(?P<password>[^"]*)"\)')


@dataclass(frozen=True)
class ServerAddress:
    """Host, port and password of a server. The password never appears in repr() or str()."""

    host: str
    port: int
    password: str = field(repr=False)
    name: str | None = None

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"bad port {self.port} for an Isabelle server: expected 1..65535")

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, spec: str, password: str) -> ServerAddress:
        """Parse ``HOST:PORT`` as given to ``--isabelle-server``."""
        host, sep, port = spec.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(
                f"bad Isabelle server address {spec!r}: expected HOST:PORT, e.g. 127.0.0.1:4711 "
                "(the address printed by `isabelle server`)"
            )
        if not password:
            raise ValueError(
                "an Isabelle server needs its password: pass --password PW or set SUBGOALXL_ISABELLE_PASSWORD "
                '(it is the UUID printed by `isabelle server` as (password "..."))'
            )
        return cls(host.strip("[]"), int(port), password)

    @classmethod
    def from_banner(cls, text: str) -> ServerAddress:
        """Read the line ``server "NAME" = HOST:PORT (password "PW")`` that `isabelle server` prints."""
        match = _BANNER.search(text)
        if not match:
            raise ValueError('no Isabelle server banner found (expected: server "NAME" = HOST:PORT (password ...))')
        return cls(match["host"], int(match["port"]), match["password"], match["name"])
