"""Errors a user can act on: each names the file, the key or record, and the fix."""


def print_error(message: object, label: str = "error") -> None:
    """`label: message` in red on stderr; the message is printed as it is, never read as rich markup
    (paths, gloo's "[/…/pair.cc:553]" and the like would otherwise vanish or crash the printer)."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(f"[bold red]{label}:[/] {escape(str(message))}", highlight=False, soft_wrap=True)


class ConfigError(ValueError):
    """A config that cannot work; raised before any work starts."""


class Reject(Exception):
    """A record that cannot be used; ingestion quarantines it with `reason`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
