"""Parse `host:port` endpoints: the one place every part's config, server and log line read them."""

from __future__ import annotations


def parse_host_port(endpoint: str) -> tuple[str, int]:
    """(host, port) of `host:port` (IPv6 as `[::1]:4317`, host without brackets); port 0 means any
    free port. Raises ValueError for a malformed endpoint; a validated config never holds one."""
    host, sep, port_text = endpoint.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"must be host:port with a port 0-65535, got {endpoint!r}")
    return host.strip("[]"), int(port_text)


def join_host_port(host: str, port: int) -> str:
    """`host:port`, an IPv6 host in brackets (what servers bind and clients dial)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_host_port(endpoint: str, path: str, problems: list[str]) -> tuple[str, int] | None:
    """`parse_host_port` for validation: a malformed value is appended to `problems` (leading
    with `path`) and gives None."""
    try:
        return parse_host_port(endpoint)
    except ValueError as exc:
        problems.append(f"{path}: {exc}")
        return None
