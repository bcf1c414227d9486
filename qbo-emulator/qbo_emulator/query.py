"""The QBO query language: a lark grammar, validation against entity metadata, and execution.

`SELECT * | COUNT(*) FROM Entity [WHERE p op v [AND ...]] [ORDERBY|ORDER BY p [ASC|DESC], ...]
[STARTPOSITION n] [MAXRESULTS n]` — keywords and names case-insensitive, no OR.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from qbo_emulator.entities import REGISTRY
from qbo_emulator.timeutil import pacific_date, parse_date, parse_instant

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from qbo_emulator.data import Company, Row

GRAMMAR = r"""
query: SELECT projection FROM NAME where_clause? order_clause? paging*

projection: STAR                         -> star
          | COUNT "(" STAR ")"           -> count

where_clause: WHERE condition (AND condition)*
condition: prop OPERATOR value                              -> compare
         | prop IN "(" value ("," value)* ")"               -> in_list
         | prop LIKE value                                  -> like

order_clause: (ORDERBY | ORDER BY) order_item ("," order_item)*
order_item: prop DIRECTION?

paging: STARTPOSITION NUMBER      -> startposition
      | MAXRESULTS NUMBER         -> maxresults

prop: NAME ("." NAME)*
value: STRING | NUMBER | TRUE | FALSE | CURRENT_DATE

SELECT.2: /select\b/i
FROM.2: /from\b/i
WHERE.2: /where\b/i
AND.2: /and\b/i
IN.2: /in\b/i
LIKE.2: /like\b/i
ORDERBY.3: /orderby\b/i
ORDER.2: /order\b/i
BY.2: /by\b/i
DIRECTION.2: /(asc|desc)\b/i
STARTPOSITION.2: /startposition\b/i
MAXRESULTS.2: /maxresults\b/i
COUNT.2: /count\b/i
TRUE.2: /true\b/i
FALSE.2: /false\b/i
CURRENT_DATE.2: /current_date\b/i
STAR: "*"
OPERATOR: "<=" | ">=" | "=" | "<" | ">"
NAME: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /'(?:\\.|[^'\\])*'/
NUMBER: /[-+]?\d+(\.\d+)?/
%import common.WS
%ignore WS
"""

_PARSER = Lark(GRAMMAR, start="query", parser="lalr", lexer="contextual")

_KEYWORDS = {
    "SELECT",
    "FROM",
    "WHERE",
    "AND",
    "IN",
    "LIKE",
    "ORDERBY",
    "ORDER",
    "BY",
    "DIRECTION",
    "STARTPOSITION",
    "MAXRESULTS",
    "COUNT",
}
MAX_RESULTS_LIMIT = 1000
DEFAULT_MAX_RESULTS = 100


class QueryError(Exception):
    """A query fault: code 4000 (parse), 4001 (validation) or 4002 (processing)."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "4000": "Error parsing query",
        "4001": "Invalid query",
        "4002": "Error processing query",
    }

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    @property
    def message(self) -> str:
        return self.MESSAGES[self.code]


@dataclass(frozen=True)
class Literal:
    kind: str  # string | number | bool | current_date
    value: Any


@dataclass
class Condition:
    prop: str
    op: str
    values: list[Literal]


@dataclass
class Query:
    count: bool
    entity: str
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)  # (prop, descending)
    start: int | None = None
    max: int | None = None


class _Build(Transformer[Token, Any]):
    def query(self, items: list[Any]) -> Query:
        q = Query(count=items[1] == "count", entity=str(items[3]))
        for item in items[4:]:
            if item is None:
                continue
            kind, payload = item
            if kind == "where":
                q.where = payload
            elif kind == "order":
                q.order = payload
            elif kind == "start":
                q.start = payload
            elif kind == "max":
                q.max = payload
        return q

    def star(self, _: list[Any]) -> str:
        return "star"

    def count(self, _: list[Any]) -> str:
        return "count"

    def where_clause(self, items: list[Any]) -> tuple[str, list[Condition]]:
        return "where", [c for c in items if isinstance(c, Condition)]

    def compare(self, items: list[Any]) -> Condition:
        return Condition(items[0], str(items[1]), [items[2]])

    def in_list(self, items: list[Any]) -> Condition:
        return Condition(items[0], "IN", [v for v in items[2:] if isinstance(v, Literal)])

    def like(self, items: list[Any]) -> Condition:
        return Condition(items[0], "LIKE", [items[2]])

    def order_clause(self, items: list[Any]) -> tuple[str, list[tuple[str, bool]]]:
        return "order", [i for i in items if isinstance(i, tuple)]

    def order_item(self, items: list[Any]) -> tuple[str, bool]:
        desc = len(items) > 1 and str(items[1]).lower() == "desc"
        return str(items[0]), desc

    def startposition(self, items: list[Any]) -> tuple[str, int]:
        return "start", _int(items[1])

    def maxresults(self, items: list[Any]) -> tuple[str, int]:
        return "max", _int(items[1])

    def prop(self, items: list[Token]) -> str:
        return ".".join(str(t) for t in items)

    def value(self, items: list[Token]) -> Literal:
        tok = items[0]
        if tok.type == "STRING":
            return Literal("string", re.sub(r"\\(.)", r"\1", str(tok)[1:-1]))
        if tok.type == "NUMBER":
            return Literal("number", str(tok))
        if tok.type in ("TRUE", "FALSE"):
            return Literal("bool", tok.type == "TRUE")
        return Literal("current_date", None)


def _int(tok: Token) -> int:
    try:
        return int(float(str(tok)))
    except ValueError as exc:  # pragma: no cover - the grammar only admits numbers
        raise QueryError("4000", f"QueryParserError: Invalid number {tok}") from exc


def parse(text: str) -> Query:
    """Parse a statement; raises QueryError 4000 with a JavaCC-like detail on bad syntax."""
    if not text.strip():
        raise QueryError(
            "4000",
            'QueryParserError: Encountered "<EOF>" at line 0, column 0.\n'
            'Was expecting:\n    "select" ...\n    ',
        )
    try:
        tree = _PARSER.parse(text)
    except UnexpectedToken as exc:
        tok = exc.token
        kind = "IDENTIFIER" if tok.type == "NAME" else tok.type
        shown = "<EOF>" if tok.type == "$END" else f' <{kind}> "{tok} "'
        wanted = sorted(e.lower() for e in (exc.expected or ()) if e in _KEYWORDS)
        expected = "".join(f'    "{e}" ...\n' for e in wanted)
        raise QueryError(
            "4000",
            f'QueryParserError: Encountered "{shown}" at line {exc.line}, column {exc.column}.\n'
            f"Was expecting one of:\n{expected}    ",
        ) from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream or 0
        char = text[pos] if pos < len(text) else ""
        raise QueryError(
            "4000",
            f"QueryParserError: Invalid content. Lexical error at line {exc.line}, column "
            f'{exc.column}.  Encountered: "{char}" ({ord(char) if char else 0}), after : ""',
        ) from None
    except UnexpectedInput as exc:  # pragma: no cover - other lark input errors
        raise QueryError("4000", f"QueryParserError: {exc}") from None
    result: Query = _Build().transform(tree)
    return result


# ---------------------------------------------------------------------------- metadata
# Property types: id, int, datetime, date, string, money, bool, ref
COMMON_PROPS = {
    "Id": "id",
    "SyncToken": "int",
    "MetaData.CreateTime": "datetime",
    "MetaData.LastUpdatedTime": "datetime",
}
#: Other QBO entity names: valid in a query, no rows in this emulator (empty pages).
OTHER_ENTITIES = ("ExchangeRate", "TaxClassification")
ALL_ENTITIES = {e.lower(): e for e in (*REGISTRY, *OTHER_ENTITIES)}


def canonical_entity(name: str) -> str:
    entity = ALL_ENTITIES.get(name.lower())
    if entity is None:
        raise QueryError("4001", f"QueryValidationError: invalid context declaration: {name}")
    return entity


def resolve_prop(entity: str, prop: str) -> tuple[str, str]:
    """Canonical property name and type; unknown -> 4001."""
    spec = REGISTRY.get(entity)
    props = {**COMMON_PROPS, **(spec.props if spec is not None else {})}
    lowered = {k.lower(): k for k in props}
    key = prop.lower()
    if key in lowered:
        name = lowered[key]
        return name, props[name]
    # rows never exist for the other entities: accept their fields
    if spec is None:
        return prop, "string"
    raise QueryError("4001", f"QueryValidationError: Property {prop} not found for Entity {entity}")


# ---------------------------------------------------------------------------- execution
@dataclass
class Plan:
    entity: str
    count: bool
    predicates: list[Callable[[Row], bool]]
    lut_lo: float | None
    lut_lo_incl: bool
    lut_hi: float | None
    lut_hi_incl: bool
    order: list[tuple[str, bool]]
    start: int
    max: int


def _coerce(entity: str, prop: str, kind: str, lit: Literal, now: float) -> Any:
    bad = QueryError("4001", f"QueryValidationError: Invalid value {lit.value!r} for {prop}")
    if lit.kind == "current_date":
        if kind not in ("date", "datetime"):
            raise bad
        return pacific_date(int(now)) if kind == "date" else parse_instant(pacific_date(int(now)))
    text = str(lit.value)
    if kind == "datetime":
        instant = parse_instant(text)
        if instant is None:
            raise QueryError(
                "4001", f"QueryValidationError: Invalid date/time format for {prop}: {text}"
            )
        return instant
    if kind == "date":
        day = parse_date(text)
        if day is None:
            raise QueryError(
                "4001", f"QueryValidationError: Invalid date format for {prop}: {text}"
            )
        return day
    if kind == "bool":
        if lit.kind == "bool":
            return bool(lit.value)
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise bad
    if kind in ("money", "int"):
        try:
            return float(text)
        except ValueError:
            raise bad from None
    if kind == "id":
        return int(text) if text.strip().isdigit() else -1
    if lit.kind == "bool":
        return "true" if lit.value else "false"
    return text.lower()


def plan(q: Query, now: float, company: Company) -> Plan:
    entity = canonical_entity(q.entity)
    preds: list[Callable[[Row], bool]] = []
    lo: float | None = None
    hi: float | None = None
    lo_incl = hi_incl = True
    has_active = False
    for cond in q.where:
        prop, kind = resolve_prop(entity, cond.prop)
        if prop == "Active":
            has_active = True
        if kind == "id" and cond.op not in ("=", "IN"):
            raise QueryError(
                "4001", f"QueryValidationError: Operator {cond.op} is not supported for Id"
            )
        if cond.op == "LIKE" and kind not in ("string", "ref"):
            raise QueryError("4001", f"QueryValidationError: LIKE is not supported for {prop}")
        values = [_coerce(entity, prop, kind, v, now) for v in cond.values]
        if prop == "Active" and cond.op == "IN" and set(values) == {True, False}:
            continue  # `Active IN (true, false)`: every row
        if prop == "MetaData.LastUpdatedTime" and cond.op != "IN":
            v = values[0]
            if cond.op in (">", ">=", "="):
                incl = cond.op != ">"
                if lo is None or v > lo or (v == lo and not incl):
                    lo, lo_incl = v, incl
            if cond.op in ("<", "<=", "="):
                incl = cond.op != "<"
                if hi is None or v < hi or (v == hi and not incl):
                    hi, hi_incl = v, incl
            continue
        preds.append(_predicate(_getter(company, entity, prop), cond.op, values))
    spec = REGISTRY.get(entity)
    if spec is not None and spec.active and not has_active:
        preds.append(lambda r: r.active)
    if q.max is not None and q.max > MAX_RESULTS_LIMIT:
        raise QueryError(
            "4001",
            f"QueryValidationError: value {q.max} is too large. Max allowed value is "
            f"{MAX_RESULTS_LIMIT}",
        )
    if q.max is not None and q.max < 1:
        raise QueryError(
            "4001", f"QueryValidationError: value {q.max} is too small. Min allowed value is 1"
        )
    order = [(resolve_prop(entity, p)[0], d) for p, d in q.order]
    return Plan(
        entity,
        q.count,
        preds,
        lo,
        lo_incl,
        hi,
        hi_incl,
        order,
        max(1, q.start or 1),
        q.max or DEFAULT_MAX_RESULTS,
    )


def _predicate(getter: Callable[[Row], Any], op: str, values: list[Any]) -> Callable[[Row], bool]:
    if op == "IN":
        allowed = set(values)
        return lambda r: getter(r) in allowed
    if op == "LIKE":
        pattern = re.compile(
            "".join(".*" if ch == "%" else re.escape(ch) for ch in str(values[0])) + r"\Z",
            re.IGNORECASE | re.DOTALL,
        )
        return lambda r: (v := getter(r)) is not None and pattern.match(str(v)) is not None
    v0 = values[0]

    def check(r: Row) -> bool:
        v = getter(r)
        if v is None:
            return False
        if op == "=":
            return bool(v == v0)
        if op == "<":
            return bool(v < v0)
        if op == ">":
            return bool(v > v0)
        if op == "<=":
            return bool(v <= v0)
        return bool(v >= v0)

    return check


class Executor:
    """Runs a plan against one company's table."""

    def __init__(self, company: Company) -> None:
        self.company = company

    def matches(self, p: Plan) -> Iterator[Row]:
        """Matching rows in (LastUpdatedTime, Id) order."""
        table = self.company.tables.get(p.entity)
        if table is None:
            return
        order = table.order
        i, j = self._bounds(p, order)
        rows = table.rows
        preds = p.predicates
        for k in range(i, j):
            row = rows[order[k][1]]
            if all(pred(row) for pred in preds):
                yield row

    @staticmethod
    def _bounds(p: Plan, order: list[tuple[int, int]]) -> tuple[int, int]:
        """The slice of the (LastUpdatedTime, Id) index within the plan's time bounds."""
        i = 0
        j = len(order)
        if p.lut_lo is not None:
            i = (
                bisect.bisect_left(order, (p.lut_lo, -1))
                if p.lut_lo_incl
                else bisect.bisect_right(order, (p.lut_lo, 1 << 62))
            )
            if p.lut_lo != int(p.lut_lo):  # fractional literal: instants are whole seconds
                i = bisect.bisect_left(order, (int(p.lut_lo) + 1, -1))
        if p.lut_hi is not None:
            j = (
                bisect.bisect_right(order, (p.lut_hi, 1 << 62))
                if p.lut_hi_incl
                else bisect.bisect_left(order, (p.lut_hi, -1))
            )
            if p.lut_hi != int(p.lut_hi):
                j = bisect.bisect_right(order, (int(p.lut_hi), 1 << 62))
        return i, max(i, j)

    def run(self, p: Plan) -> tuple[int | None, list[Row]]:
        """(totalCount for COUNT, page rows for SELECT *)."""
        if p.count:
            return sum(1 for _ in self.matches(p)), []
        start = p.start - 1
        order = p.order or self._default_order(p.entity)
        if order == [("MetaData.LastUpdatedTime", False)] and not p.predicates:
            table = self.company.tables.get(p.entity)
            if table is None:
                return None, []
            i, j = self._bounds(p, table.order)
            keys = table.order[i + start : min(j, i + start + p.max)]
            rows_by_id = table.rows
            return None, [rows_by_id[iid] for _, iid in keys]
        if order == [("MetaData.LastUpdatedTime", False)]:
            page: list[Row] = []
            for n, row in enumerate(self.matches(p)):
                if n >= start:
                    page.append(row)
                    if len(page) >= p.max:
                        break
            return None, page
        rows = list(self.matches(p))
        if order == [("MetaData.LastUpdatedTime", True)]:
            rows.reverse()
        else:
            rows.sort(key=lambda r: r.id)  # ties keep Id order
            for prop, desc in reversed(order):
                getter = _getter(self.company, p.entity, prop)

                def key(r: Row, g: Callable[[Row], Any] = getter) -> tuple[int, Any]:
                    return _sort_key(g(r))

                rows.sort(key=key, reverse=desc)  # stable: earlier keys win
        return None, rows[start : start + p.max]

    @staticmethod
    def _default_order(entity: str) -> list[tuple[str, bool]]:
        spec = REGISTRY.get(entity)
        return [(prop, False) for prop in (spec.order if spec is not None else ("Id",))]


def _sort_key(v: Any) -> tuple[int, Any]:
    return (0, "") if v is None else (1, v)


def _lower(v: Any) -> str | None:
    return None if v is None or v == "" else str(v).lower()


def _getter(company: Company, entity: str, prop: str) -> Callable[[Row], Any]:
    """A function reading a property of a row as a comparable value (strings lower-cased)."""
    if prop == "Id":
        return lambda r: r.id
    if prop == "SyncToken":
        return lambda r: float(r.sync)
    if prop == "MetaData.CreateTime":
        return lambda r: r.create
    if prop == "MetaData.LastUpdatedTime":
        return lambda r: r.lut
    if prop == "Active":
        return lambda r: r.active
    c = company

    def info(key: str) -> Callable[[Row], Any]:
        return lambda r: _lower(r.info[key]) if r.info else None

    def facts(key: str, scale: bool = False) -> Callable[[Row], Any]:
        if scale:
            return lambda r: c.invoice_facts(r)[key] / 100
        return lambda r: c.invoice_facts(r)[key]

    def deleted_suffix(key: str) -> Callable[[Row], Any]:
        return lambda r: (
            _lower(str(r.info[key]) + ("" if r.active else " (deleted)")) if r.info else None
        )

    getters: dict[tuple[str, str], Callable[[Row], Any]] = {
        ("Invoice", "DocNumber"): lambda r: str(1000 + r.id),
        ("Invoice", "TxnDate"): facts("txn_date"),
        ("Invoice", "DueDate"): facts("due_date"),
        ("Invoice", "CustomerRef"): lambda r: str(r.ref),
        ("Invoice", "TotalAmt"): facts("total", scale=True),
        ("Invoice", "Balance"): facts("balance", scale=True),
        ("Invoice", "PrintStatus"): lambda r: ("needtoprint", "notset")[(r.h >> 61) & 1],
        ("Invoice", "EmailStatus"): lambda r: ("notset", "needtosend", "emailsent")[
            (r.h >> 62) % 3
        ],
        ("Customer", "DisplayName"): deleted_suffix("display"),
        ("Customer", "GivenName"): info("given"),
        ("Customer", "FamilyName"): info("family"),
        ("Customer", "CompanyName"): info("company"),
        ("Customer", "FullyQualifiedName"): lambda r: _lower(c.customer_fqn(r)),
        ("Customer", "PrintOnCheckName"): lambda r: _lower(
            (r.info["company"] or r.info["display"]) if r.info else None
        ),
        ("Customer", "PrimaryEmailAddr"): lambda r: _lower(c.customer_email(r)),
        ("Customer", "Job"): lambda r: bool(r.ref),
        ("Customer", "ParentRef"): lambda r: str(r.ref) if r.ref else None,
        ("Customer", "Balance"): lambda r: c.customer_balance(r.id) / 100,
        ("Customer", "Taxable"): lambda r: bool(r.h & 1),
        ("Item", "Name"): deleted_suffix("name"),
        ("Item", "FullyQualifiedName"): deleted_suffix("name"),
        ("Item", "Type"): info("type"),
        ("Item", "Sku"): lambda r: f"sku-{r.id:05d}" if (r.h >> 7) % 3 == 0 else None,
        ("Item", "UnitPrice"): lambda r: r.info["price"] / 100 if r.info else None,
        ("Item", "Taxable"): lambda r: bool(r.h & 1),
        ("Item", "TrackQtyOnHand"): lambda r: bool(r.info and r.info["type"] == "Inventory"),
    }
    getter = getters.get((entity, prop))
    if getter is not None:
        return getter
    spec = REGISTRY.get(entity)
    if spec is None:
        return lambda r: None
    kind = spec.props.get(prop, "string")

    def generic(r: Row) -> Any:
        value: Any = spec.obj(c, r)
        for part in prop.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, dict):
            value = value.get("value")
        if value is None:
            return None
        if kind in ("money", "int"):
            return float(value)
        if kind == "bool":
            return bool(value)
        if kind == "date":
            return str(value)
        return _lower(value)

    return generic
