"""Errors a user can act on: each names the file, the key or record, and the fix."""


class ConfigError(ValueError):
    """A config that cannot work; raised before any work starts."""


class Reject(Exception):
    """A record that cannot be used; ingestion quarantines it with `reason`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
