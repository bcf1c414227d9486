"""Lean JSON handling for the fast path.

Singer lines are parsed once with msgspec, keeping every JSON float as an
:class:`orjson.Fragment` of its literal text. ``orjson`` writes a
fragment back verbatim, so a JSONB value is stored from the very digits the tap
sent (``100.00`` stays ``100.00``), exactly as the stock sink stores it after its
``Decimal`` round trip, at a fraction of the cost.
"""

from __future__ import annotations

import decimal
import typing as t

import msgspec
import orjson

__all__ = [
    "Fragment",
    "dump_jsonb",
    "fragment_literal",
    "json_default",
    "loads_fragments",
    "to_stock_value",
]

Fragment = orjson.Fragment


_DECODER = msgspec.json.Decoder(float_hook=orjson.Fragment)


def loads_fragments(line: str | bytes) -> t.Any:
    """Parse one JSON document, keeping floats as literal fragments.

    msgspec rejects what the fast path must not see (``NaN``/``Infinity``, lone
    surrogates); such lines are left to the stock reader.

    Raises:
        ValueError: if the line cannot be parsed this way.
    """
    try:
        return _DECODER.decode(line)
    except msgspec.DecodeError as ex:
        raise ValueError(str(ex)) from ex


def fragment_literal(value: orjson.Fragment) -> str:
    """Return the JSON literal a fragment was made from."""
    return orjson.dumps(value).decode()


def to_stock_value(value: t.Any) -> t.Any:
    """Return ``value`` as the stock reader would have built it (floats as Decimal)."""
    if isinstance(value, orjson.Fragment):
        return decimal.Decimal(fragment_literal(value))
    if isinstance(value, dict):
        return {key: to_stock_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [to_stock_value(item) for item in value]
    return value


def json_default(value: t.Any) -> t.Any:
    """orjson ``default``: a Decimal is written as ``str(Decimal)``."""
    if isinstance(value, decimal.Decimal):
        # simplejson(use_decimal=True) writes str(Decimal); so do we.
        return orjson.Fragment(str(value))
    raise TypeError


def dump_jsonb(value: t.Any, stock_serializer: t.Callable[[t.Any], str]) -> str:
    """Serialize a value bound for a JSONB column.

    Postgres parses the text into the same jsonb as the stock sink's
    ``simplejson.dumps(..., use_decimal=True)`` output: same keys, same strings,
    same numeric literals. Values orjson refuses (integers beyond 64 bits, lone
    surrogates, non-finite Decimals) go through the stock serializer unchanged.
    """
    try:
        return orjson.dumps(value, default=json_default).decode()
    except (orjson.JSONEncodeError, TypeError):
        return stock_serializer(to_stock_value(value))
