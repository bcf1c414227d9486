"""Several companies in one `meltano run`: one company's refused token does not cost the others."""

from __future__ import annotations

import typing as t

import pytest
import requests
from _pipeline import CLIENT_ID, CLIENT_SECRET, STREAMS, Pipeline, bookmarks, database
from qbo_emulator.testing import EmulatorServer

if t.TYPE_CHECKING:
    from collections.abc import Iterator

COMPANY: dict[str, t.Any] = {"seed": 31, "customers": 20, "items": 6, "invoices": 60}


@pytest.fixture(scope="module")
def pipe(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    with (
        EmulatorServer(
            **COMPANY, realms=3, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        ) as emu,
        database("many") as dbname,
    ):
        yield Pipeline(emu, dbname, tmp_path_factory.mktemp("many"))


def loaded(pipe: Pipeline) -> dict[str, set[tuple[str, str]]]:
    return {stream: set(rows) for stream, rows in pipe.rows().items()}


def truth(pipe: Pipeline, realms: list[str]) -> dict[str, set[tuple[str, str]]]:
    company = pipe.emu.truth()
    return {
        stream: {(r, i) for r in realms for i in company[r][entity]}
        for stream, entity in STREAMS.items()
    }


def test_a_refused_company_leaves_the_others_loaded_and_saved(pipe: Pipeline) -> None:
    first, second, third = pipe.emu.realm_ids
    tokens = {first: pipe.refresh_token}
    tokens.update({r: pipe.emu.refresh_token(r) for r in (second, third)})
    # The second company's token was spent elsewhere (strict rotation): it is refused.
    spent = requests.post(
        pipe.emu.token_url,
        auth=(CLIENT_ID, CLIENT_SECRET),
        data={"grant_type": "refresh_token", "refresh_token": tokens[second]},
        timeout=10,
    )
    assert spent.status_code == 200
    env = {
        "TAP_QUICKBOOKS_REALM_ID": ",".join((first, second, third)),
        "TAP_QUICKBOOKS_REFRESH_TOKEN": ",".join(tokens[r] for r in (first, second, third)),
    }
    result = pipe.run(env=env)
    assert result.rc != 0
    assert f"1 of 3 companies failed ({second})" in result.output
    assert "tap-quickbooks authorize" in result.output
    assert loaded(pipe) == truth(pipe, [first, third])
    saved = bookmarks(pipe.state())
    assert {realm for _, realm in saved} == {first, third}
    # The healthy companies have a bookmark in every stream that has rows (the same ones).
    assert {s for s, r in saved if r == first} == {s for s, r in saved if r == third}
    assert {"invoices", "customers", "items"} <= {s for s, _ in saved}

    # Connected again (here: its current token configured), the next run reads it too.
    env["TAP_QUICKBOOKS_REFRESH_TOKEN"] = ",".join(
        (tokens[first], pipe.emu.refresh_token(second), tokens[third])
    )
    again = pipe.run(env=env)
    assert again.rc == 0, again.tail()
    assert loaded(pipe) == truth(pipe, [first, second, third])
    assert {realm for _, realm in bookmarks(pipe.state())} == {first, second, third}
    assert pipe.duplicates() == dict.fromkeys(pipe.existing_tables(), 0)
