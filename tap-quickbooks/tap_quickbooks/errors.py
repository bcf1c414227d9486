"""Exceptions the tap raises; each carries a one-line, secret-free message."""

from __future__ import annotations


class TapQuickBooksError(Exception):
    """Base class: the CLI prints the message as one line and exits non-zero."""

    exit_code = 1


class SettingError(TapQuickBooksError):
    """A setting is missing or invalid; raised before any request is made."""

    exit_code = 2

    def __init__(self, setting: str, problem: str) -> None:
        """Name the setting and what is wrong with it."""
        self.setting = setting
        super().__init__(f"setting '{setting}': {problem}")


class AuthError(TapQuickBooksError):
    """Authentication cannot succeed without the user's action (re-authorize)."""


class QueryFaultError(TapQuickBooksError):
    """QuickBooks rejected a request (HTTP 4xx other than 401/429): not retried."""


class RetriableError(TapQuickBooksError):
    """A transient failure (5xx, timeout, reset, truncated body) worth retrying."""

    def __init__(self, message: str, *, throttled: bool = False, wait: float | None = None) -> None:
        """Describe the failure; `wait` is a server-requested delay in seconds."""
        self.throttled = throttled
        self.wait = wait
        super().__init__(message)


class RetriesExhaustedError(TapQuickBooksError):
    """A request kept failing transiently after `max_retries` tries."""


class WindowFailedError(TapQuickBooksError):
    """A window could not be completed (circuit breaker tripped or churn never settled)."""
