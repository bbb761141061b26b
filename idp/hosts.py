"""Which host names stay on this machine (one answer for binding, proxying and the
directory's provider URLs)."""

from __future__ import annotations

import ipaddress

__all__ = ["is_loopback"]


def is_loopback(host: str | None) -> bool:
    """``localhost`` or a loopback address literal (127.0.0.0/8, ::1); no name lookup."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False
