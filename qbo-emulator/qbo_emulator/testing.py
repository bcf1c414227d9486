"""Run the emulator in-process for tests: a background thread on a free loopback port."""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Self, TypeVar

from qbo_emulator.server import TOKEN_PATH, Emulator, HTTPServer

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

T = TypeVar("T")


class EmulatorServer:
    """`with EmulatorServer(seed=1, customers=60, items=20, invoices=400, realms=1) as emu:`.

    Extra keyword arguments are switches (see `qbo_emulator.config.Config`), plus
    `sizes` (rows per entity, e.g. `{"Payment": 500}`; see `qbo_emulator.entities`),
    `token_state` (path), `clock` (ISO datetime or epoch the emulator clock starts at) and
    `host`. All state access is marshalled onto the server's event loop, so it is thread-safe.
    """

    def __init__(
        self,
        seed: int = 1,
        customers: int = 60,
        items: int = 20,
        invoices: int = 400,
        realms: int = 1,
        host: str = "127.0.0.1",
        **switches: Any,
    ) -> None:
        self.emulator = Emulator(
            seed=seed,
            customers=customers,
            items=items,
            invoices=invoices,
            realms=realms,
            **switches,
        )
        self.host = host
        self.base_url = ""
        self.token_url = ""
        self.realm_ids: list[str] = list(self.emulator.realm_ids)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._http: HTTPServer | None = None
        self._stopped: asyncio.Event | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(ready))
            except BaseException as exc:  # surfaced to the starting thread
                errors.append(exc)
                ready.set()
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="qbo-emulator", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise errors[0]
        if not self.base_url:
            raise RuntimeError("emulator did not start")
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._stopped = asyncio.Event()
        self._http = HTTPServer(self.emulator, self.host, 0)
        self.base_url = await self._http.start()
        self.token_url = self.base_url + TOKEN_PATH
        ready.set()
        await self._stopped.wait()
        await self._http.close()

    def stop(self) -> None:
        loop, stopped = self._loop, self._stopped
        if loop is not None and stopped is not None and self._thread is not None:
            loop.call_soon_threadsafe(stopped.set)
            self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ state
    def _call(self, fn: Callable[[], T]) -> T:
        loop = self._loop
        if loop is None or self._thread is None:
            return fn()

        async def wrapper() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(wrapper(), loop).result(30)

    def truth(self) -> dict[str, Any]:
        """`{realm: {"<Entity>": {id: SyncToken}, …, "deleted": …, "inactive": …, "counts": …}}`."""
        return self._call(self.emulator.truth)

    def requests(self) -> list[dict[str, Any]]:
        """The latest API requests: endpoint, entities, status and rows of each."""
        return self._call(self.emulator.requests)

    def trial_balance(self, realm: str | None = None) -> dict[int, int]:
        """Net debit (+) / credit (-) cents per account id over the realm's live documents."""
        from qbo_emulator.postings import trial_balance

        company = self.emulator.companies[realm or self.realm_ids[0]]
        return self._call(lambda: trial_balance(company))

    def configure(self, **switches: Any) -> None:
        self._call(lambda: self.emulator.configure(**switches))

    def mutate(self, realm: str, entity: str, op: str, id: str | int | None = None) -> str:
        """op: update | deactivate | delete | create; returns the row id."""
        return self._call(lambda: self.emulator.mutate(realm, entity, op, id))

    def advance_clock(self, days: float = 0, hours: float = 0, seconds: float = 0) -> float:
        return self._call(lambda: self.emulator.advance_clock(days, hours, seconds))

    def stats(self) -> dict[str, Any]:
        return self._call(self.emulator.stats)

    def reset_stats(self) -> None:
        self._call(self.emulator.reset_stats)

    def reset_limits(self) -> None:
        """Empty every realm's 500/min window, as if a minute had passed since the last request."""
        self._call(self.emulator.reset_limits)

    def refresh_token(self, realm: str | None = None) -> str:
        """The currently valid refresh token of a realm (default: the first)."""
        current = self._call(self.emulator.tokens.current)
        return current[realm or self.realm_ids[0]]
