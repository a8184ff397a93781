"""Errors of the sandbox store; each app turns them into its own API's error body."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of the store's errors; the apps turn them into each API's error body."""


class UnknownMailbox(SandboxError, KeyError):
    """No mailbox with that address in the tenant."""


class UnknownMessage(SandboxError, KeyError):
    """No message with that id in the mailbox."""


class UnknownFolder(SandboxError, KeyError):
    """No folder or label with that id in the mailbox."""


class HistoryExpired(SandboxError):
    """The requested start history id is older than the change log keeps (Gmail 404, Graph 410)."""

    def __init__(self, start: int, oldest: int) -> None:
        super().__init__(f"history id {start} is older than the oldest kept ({oldest})")
        self.start, self.oldest = start, oldest
