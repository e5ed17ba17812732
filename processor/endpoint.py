"""Parse `host:port` endpoints: the one place every part's config and server read them."""

from __future__ import annotations


def split_host_port(endpoint: str, path: str, problems: list[str]) -> tuple[str, int] | None:
    """Parse `host:port` (IPv6 as `[::1]:4317`); port 0 means any free port.

    A malformed value is appended to `problems` (leading with `path`) and gives None.
    """
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        problems.append(f"{path}: must be host:port with a port 0-65535, got {endpoint!r}")
        return None
    return host.strip("[]"), int(port_text)
