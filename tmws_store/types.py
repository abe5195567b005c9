"""Column types shared by every model, each storing values exactly as TMWS 2.4.18 does.

- ``UTCDateTime``: declared ``DATETIME``; stored as UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``
  with no offset (TMWS's format); returned as timezone-aware UTC datetimes.
- ``JSONDict`` / ``JSONList`` / ``JSONValue``: declared ``JSON``; stored as ``json.dumps``
  text. The dict and list flavours track in-place edits, so ``row.tags.append(x)`` is saved.
  NaN and the infinities, which JSON cannot hold, are refused (``json_text``); models refuse
  them earlier, with anything else ``json_text`` could not write (``json_problem``).
- ``StrEnumType``: declared ``VARCHAR(n)``; stores an enum's values (or its member names,
  for the two ``workflows`` columns that TMWS stores that way). No CHECK constraint, as in
  TMWS; unknown values are refused on the way in, never written.
- ``HexUUID``: TMWS's ``UUID`` columns (licence tables): 32-char hex without dashes.

On PostgreSQL the same Python values use native types: ``timestamptz`` for datetimes,
``jsonb`` for JSON and ``uuid`` for the ``UUID`` columns (still returned as 32-char hex).
"""

import enum
import inspect
import json
import json.scanner
import math
import os
import re
import uuid
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy import CHAR, JSON, DateTime, String, event
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.mutable import Mutable, MutableDict, MutableList
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.sql.elements import Null
from sqlalchemy.types import TypeDecorator, TypeEngine

if TYPE_CHECKING:
    from sqlalchemy.orm import InstanceState, QueryableAttribute
    from sqlalchemy.sql.type_api import _BindProcessorType, _ResultProcessorType

__all__ = [
    "MAX_JSON_DEPTH",
    "HexUUID",
    "JSONDict",
    "JSONList",
    "JSONValue",
    "StrEnumType",
    "UTCDateTime",
    "as_utc",
    "checked_json_text",
    "default_factory",
    "is_json_type",
    "json_problem",
    "json_text",
    "new_hex_id",
    "new_id",
    "utc_now",
]


_Factory = TypeVar("_Factory", bound=Callable[[], Any])

_NO_PARAMETERS = inspect.Signature()


def default_factory(function: _Factory) -> _Factory:
    """Mark ``function`` as a field's default factory that takes no argument.

    Pydantic asks ``inspect.signature`` of a factory each time it calls it (a factory may
    take the validated data), and for a plain function that was a third of building an
    object. A ``__signature__`` is returned by ``inspect.signature`` as it is.
    """
    vars(function)["__signature__"] = _NO_PARAMETERS
    return function


@default_factory
def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


def _uuid4_hex() -> str:
    """The 32 hex digits of a random (version 4, RFC 4122 variant) uuid.

    What ``uuid.uuid4().hex`` gives, without building a ``UUID`` object: its checks were
    half the cost of validating a row on the bulk path.
    """
    value = int.from_bytes(os.urandom(16))
    value = (value & ~(0xC000 << 48)) | (0x8000 << 48)  # variant: RFC 4122
    value = (value & ~(0xF000 << 64)) | (4 << 76)  # version: 4 (random)
    return f"{value:032x}"


@default_factory
def new_id() -> str:
    """A new primary key as TMWS makes them: a dashed uuid4 string (36 characters)."""
    h = _uuid4_hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# A value matching this would be turned into a number by a column of NUMERIC affinity (TMWS
# declares its licence ids ``UUID``), losing the id. Such ids are never generated.
_NUMERIC_LOOKING = re.compile(r"^[0-9]+(e[0-9]+)?$")


@default_factory
def new_hex_id() -> str:
    """A new 32-char hex uuid4, as TMWS stores its ``UUID`` columns, never numeric-looking."""
    while True:
        value = _uuid4_hex()
        if not _NUMERIC_LOOKING.match(value):
            return value


def _on_postgres(dialect: Dialect) -> bool:
    return dialect.name == "postgresql"


def as_utc(value: datetime) -> datetime:
    """``value`` as an aware datetime in UTC; a naive one is taken to be UTC already.

    Raises ``ValueError`` for an instant outside years 1 to 9999 in UTC, which a datetime
    cannot hold: ``0001-01-01 00:00+09:00`` is still year 0 in UTC.
    """
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(
            "the datetime falls outside years 1 to 9999 once converted to UTC, as it is stored"
        ) from None


class UTCDateTime(TypeDecorator[datetime]):
    """UTC text without offset on SQLite, ``timestamptz`` on PostgreSQL; aware UTC in Python.

    A naive datetime is taken to be UTC already (TMWS writes ``datetime.utcnow()``); an aware
    one is converted to UTC first, so 12:00+09:00 is stored as 03:00, never as 12:00.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        return dialect.type_descriptor(DateTime(timezone=_on_postgres(dialect)))

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        moment = as_utc(value)
        # timestamptz keeps the instant; SQLite's text keeps TMWS's offset-free format.
        return moment if _on_postgres(dialect) else moment.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        # PostgreSQL answers in the session's time zone; SQLite's text has none (it is UTC).
        stored: datetime = value
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> "_ResultProcessorType[datetime] | None":
        general = super().result_processor(dialect, coltype)
        if general is None or _on_postgres(dialect):
            return general  # psycopg gives datetimes
        return _utc_text_reader(general)


# The lengths of the text TMWS writes: 'YYYY-MM-DD HH:MM:SS.ffffff', and without the fraction
# (CURRENT_TIMESTAMP, the server default).
_TMWS_DATETIME_LENGTHS = frozenset({19, 26})


def _utc_text_reader(general: "_ResultProcessorType[datetime]") -> "_ResultProcessorType[datetime]":
    """SQLite's datetime reader with a fast path for the offset-free text TMWS writes.

    The general path parses the text (``datetime.fromisoformat``) and then sets the time
    zone with ``replace(tzinfo=UTC)``, which cost six times the parsing itself. Parsing the
    text with ``+00:00`` appended gives the very same value (``tzinfo`` is ``UTC`` itself)
    in one step. Text that already names an offset cannot take a second one and fails to
    parse; it, and anything else, goes the general way, so no value changes.
    """
    parse = datetime.fromisoformat
    lengths = _TMWS_DATETIME_LENGTHS

    def process(value: Any) -> datetime | None:
        if value is None:
            return None
        if type(value) is str and len(value) in lengths:
            try:
                return parse(value + "+00:00")
            except ValueError:
                pass
        return general(value)

    return process


# One encoder for every value: json.dumps(value, allow_nan=False) would build a new one per call.
_STRICT_JSON = json.JSONEncoder(allow_nan=False)


def json_text(value: Any) -> str:
    """``value`` as the JSON text we store: ``json.dumps``'s, but refusing NaN and infinities.

    Plain ``json.dumps`` writes them as ``NaN`` / ``Infinity``, which is not JSON: PostgreSQL
    refuses it, so a file holding it could not be copied there. Raises ``ValueError``.
    """
    return _STRICT_JSON.encode(value)


def _checked_encoder() -> Callable[[Any], str]:
    """``json_text`` for values that ``json_problem`` has passed, built once.

    ``JSONEncoder.encode`` builds a new C encoder (and a dict to detect cycles) on every
    call, which cost twice the encoding of a short array. A value with no problem has no
    cycle (it would be nested without end) and no NaN, so the cycle check can go; the text
    is the same. Python without the C encoder: plain ``json_text``.
    """
    make: Any = getattr(json.encoder, "c_make_encoder", None)  # not in the type stubs
    if make is None:
        return json_text
    s = _STRICT_JSON
    encode = make(
        None,  # no cycle check
        s.default,
        json.encoder.encode_basestring_ascii,
        s.indent,
        s.key_separator,
        s.item_separator,
        s.sort_keys,
        s.skipkeys,
        s.allow_nan,
    )
    return lambda value: "".join(encode(value, 0))


checked_json_text = _checked_encoder()


# Deepest nesting of arrays and objects a JSON value may have. The encoder recurses (3,000
# levels exhaust Python's recursion limit, and so does printing the value in an error);
# TMWS's own values are a few levels deep.
MAX_JSON_DEPTH = 100


def _is_json_key(key: Any) -> bool:
    """Whether ``key`` reads back as it was written as an object's key: a str only. JSON keys
    are text, so json.dumps writes 1 as "1" (and True as "true"): the key came back changed,
    and {1: a, "1": b} came back as {"1": b}, a value lost."""
    return isinstance(key, str)


# The exact types a JSON value may be without further checks (subclasses, such as a str
# enum, are left to the full walk in json_problem; ints to the size check below).
_JSON_ATOMS = frozenset({str, bool, type(None)})

# Integers this many bits long or more are checked in full: json.dumps refuses those of
# more digits than sys.get_int_max_str_digits() (4,300 by default, about 14,284 bits).
_LONG_INT_BITS = 14_000

# What SQLite's INTEGER holds: 64 bits, signed. Beyond it the driver refuses an int outright
# (a raw OverflowError), and a JSON column's whole value, when it is a bare number (stored
# where SQLite applies its NUMERIC affinity), is kept as a float, its digits lost.
SQLITE_INTEGERS = range(-(2**63), 2**63)


def _plainly_storable(value: Any) -> bool:
    """True if ``json_text`` can surely write ``value``; False if unsure (or not).

    The common case, checked without recording where each item sits: json_problem's walk
    built a path tuple per item, the larger part of validating a row's JSON columns.
    """
    atoms = _JSON_ATOMS
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        kind = type(item)
        if kind in atoms:
            continue
        if kind is int:
            if item.bit_length() >= _LONG_INT_BITS or (depth == 0 and item not in SQLITE_INTEGERS):
                return False
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
            continue
        if isinstance(item, dict):
            if not all(type(key) is str for key in item):
                return False
            item = item.values()
        elif not isinstance(item, list | tuple):
            return False
        if depth >= MAX_JSON_DEPTH:
            return False
        # Plain loops: a generator per container cost more than the checks themselves.
        for inner in item:
            if type(inner) not in atoms:
                pending.append((inner, depth + 1))
    return True


def json_problem(value: Any) -> tuple[tuple[Any, ...], str] | None:
    """What in a JSON value ``json_text`` could not write, and where (its keys and indexes);
    None if nothing.

    NaN or an infinity; a value JSON has no type for (a datetime, bytes, a set, any other
    object) or a key that is not text; an integer too long for json.dumps, or, as the whole
    value, outside the 64 bits SQLite keeps a bare number in; arrays and objects nested
    deeper than ``MAX_JSON_DEPTH`` (reported at ``()``). Iterative, so that no value can
    exhaust the recursion limit here.
    """
    if _plainly_storable(value):
        return None
    pending: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while pending:
        item, at = pending.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            problem = _integer_problem(item, alone=not at)
            if problem is not None:
                return at, problem
            continue
        if item is None or isinstance(item, str | bool):
            continue
        if isinstance(item, float):
            if not math.isfinite(item):
                return at, "NaN or an infinity"
        elif isinstance(item, dict | list | tuple):
            if len(at) >= MAX_JSON_DEPTH:
                return (), f"arrays and objects nested deeper than {MAX_JSON_DEPTH} levels"
            if isinstance(item, dict):
                for key, inner in item.items():
                    if not _is_json_key(key):
                        return at, f"a key of type {type(key).__name__} (JSON keys are text)"
                    pending.append((inner, (*at, key)))
            else:
                pending.extend((inner, (*at, index)) for index, inner in enumerate(item))
        else:
            return at, f"a value of type {type(item).__name__}"
    return None


def _integer_problem(number: int, *, alone: bool) -> str | None:
    """Why ``number`` would not read back from a JSON column as it was; None if it would.

    ``alone``: the number is the column's whole value (see ``SQLITE_INTEGERS``).
    """
    if number.bit_length() >= _LONG_INT_BITS:
        try:
            str(number)
        except ValueError:  # more digits than sys.get_int_max_str_digits() allows
            return "an integer of more digits than json.dumps writes"
    if alone and number not in SQLITE_INTEGERS:
        return "a bare integer outside 64 bits (SQLite would keep it as a float)"
    return None


def _text_as_is(text: str) -> str:
    return text


class JSONValue(TypeDecorator[Any]):
    """Any JSON value, stored as ``json_text`` (``jsonb`` on PostgreSQL).

    Python ``None`` is stored as SQL NULL, not as the JSON ``null``. A value holding NaN or
    an infinity raises ``ValueError`` before anything is sent (models refuse it earlier, when
    they are validated; this is the guard for statements that skip validation).
    """

    impl = JSON
    cache_ok = True

    def __init__(self, tracked_as: "type[TrackedDict] | type[TrackedList] | None" = None) -> None:
        """``tracked_as``: TrackedDict or TrackedList for JSONDict and JSONList, what a value
        read from SQLite is returned as if it is of the matching plain type (a Core query gets
        it too, without an owner: a dict or list whose edits change nothing else, as before).
        An argument, so that it is part of the type's cache key."""
        super().__init__()
        self.tracked_as = tracked_as

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _on_postgres(dialect):
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))

    def bind_processor(self, dialect: Dialect) -> "_BindProcessorType[Any]":
        # Replaces the impl's processor instead of adding a process_bind_param: the impl
        # would serialise our result again with the driver's json.dumps, which writes NaN.
        wrap = _jsonb_parameter() if _on_postgres(dialect) else _text_as_is

        def process(value: Any) -> Any:
            if value is None or isinstance(value, Null):
                return None  # none_as_null: SQL NULL
            return wrap(json_text(None if value is JSON.NULL else value))

        return process

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> "_ResultProcessorType[Any] | None":
        parse = super().result_processor(dialect, coltype)
        if parse is None or _on_postgres(dialect):
            return parse  # psycopg decodes jsonb itself
        scan = _json_scanner() if dialect._json_deserializer is None else None
        if self.tracked_as is None:
            return _json_reader(parse, scan)
        return _tracked_json_reader(parse, scan, self.tracked_as)


def _json_scanner() -> Callable[[str, int], tuple[Any, int]] | None:
    """The C scanner under ``json.loads``, with its settings; None without the C extension.

    ``json.loads`` matches a regular expression for the whitespace before and after the
    value, through two Python layers; the scanner reads the value directly.
    """
    make: Any = getattr(json.scanner, "c_make_scanner", None)  # not in the type stubs
    return None if make is None else make(json.JSONDecoder())


def _json_reader(
    general: "_ResultProcessorType[Any]", scan: Callable[[str, int], tuple[Any, int]] | None
) -> "_ResultProcessorType[Any]":
    """``general`` (``json.loads``, as SQLAlchemy calls it) with fast paths for plain text.

    One function per value, not a chain of three: the calls themselves were a third of the
    cost of reading a JSON column. Text the scanner cannot take whole (whitespace around the
    value, invalid JSON, a number SQLite already turned into one) and NULL go to ``general``,
    so results and errors stay as they were.
    """
    if scan is None:
        return general

    def process(value: Any) -> Any:
        if type(value) is str:
            # Most JSON columns of a row hold an empty object or array: no scan needed.
            if value == "[]":
                return []
            if value == "{}":
                return {}
            try:
                found, end = scan(value, 0)
            except StopIteration:  # the text does not begin with a value
                return general(value)
            if end == len(value):
                return found
        return general(value)

    return process


def _tracked_json_reader(
    general: "_ResultProcessorType[Any]",
    scan: Callable[[str, int], tuple[Any, int]] | None,
    tracked: "type[TrackedDict] | type[TrackedList]",
) -> "_ResultProcessorType[Any]":
    """As ``_json_reader``, giving a value of ``tracked``'s plain type (dict or list) as
    ``tracked``; a value of another type (a list in a dict column) is given as it is, for the
    load listener to refuse as before.

    Made tracked here, not by the load listener, which used to copy it: the plain value
    stayed alive beside its copy until the whole result was loaded, one more object per
    column and row for the garbage collector to count and walk. Its owner is left empty
    (``None``, set: reading a slot never set raises), for the load listener to fill.
    """
    plain = tracked.plain
    empty_text = json_text(plain())

    def process(value: Any) -> Any:
        if value is None:
            return None  # SQL NULL, which general() would give
        if value == empty_text:
            made = tracked()
            made._owner_state = None
            return made
        found: Any = None
        if scan is not None and type(value) is str:
            try:
                found, end = scan(value, 0)
                if end != len(value):
                    found = general(value)
            except StopIteration:  # the text does not begin with a value
                found = general(value)
        else:
            found = general(value)
        if type(found) is not plain:
            return found
        made = tracked(found)
        made._owner_state = None
        return made

    return process


def _jsonb_parameter() -> Callable[[str], Any]:
    """Our JSON text as psycopg sends a ``jsonb`` parameter (wrapped, as SQLAlchemy does)."""
    from psycopg.types.json import Jsonb

    def wrap(text: str) -> Any:
        return Jsonb(text, dumps=_text_as_is)  # already text: psycopg sends it as it is

    return wrap


def is_json_type(column_type: Any) -> bool:
    """Whether a column's type is one of our JSON types (``JSONValue``, ``JSONDict``, ...)."""
    return isinstance(column_type, JSONValue)


class _Tracked(Mutable):
    """In-place edits flag the owning row's attribute as changed, as SQLAlchemy's Mutable does.

    SQLAlchemy keeps each value's owners in a ``WeakKeyDictionary`` of its own: half a dozen
    objects per JSON value, which made loading rows mostly garbage collection (several full
    collections for 10k memories). A value almost always has one owner, so it is kept in two
    slots, with a weak dictionary only for the rare value shared by several rows.
    """

    __slots__ = ()  # the slots are declared by the dict and list classes below

    # The plain type that is tracked as this class: dict or list.
    plain: ClassVar[type[Any]]

    # The first owner: its InstanceState (which holds its object only weakly) and attribute;
    # two slots rather than a tuple, which would be one more object for the collector.
    _owner_state: "InstanceState[Any] | None"
    _owner_key: str
    # Owners after the first, when one value is assigned to several rows.
    _more: "weakref.WeakKeyDictionary[InstanceState[Any], str] | None"

    def _add_owner(self, state: "InstanceState[Any]", key: str) -> None:
        owner = getattr(self, "_owner_state", None)
        if owner is None or owner is state or owner.obj() is None:
            self._owner_state, self._owner_key = state, key
            return
        more = getattr(self, "_more", None)
        if more is None:
            more = self._more = weakref.WeakKeyDictionary()
        more[state] = key

    def _drop_owner(self, state: "InstanceState[Any]") -> None:
        if getattr(self, "_owner_state", None) is state:
            self._owner_state = None
        more = getattr(self, "_more", None)
        if more is not None:
            more.pop(state, None)

    def changed(self) -> None:
        """Flag every owner's attribute as modified (called by each in-place edit)."""
        owners: list[tuple[InstanceState[Any], str]] = []
        state = getattr(self, "_owner_state", None)
        if state is not None:
            owners.append((state, self._owner_key))
        more = getattr(self, "_more", None)
        if more is not None:
            owners.extend(more.items())
        for state, key in owners:
            obj = state.obj()
            if obj is not None:  # an owner that is gone keeps no claim on the value
                flag_modified(obj, key)

    @classmethod
    def _listen_on_attribute(
        cls, attribute: "QueryableAttribute[Any]", coerce: bool, parent_cls: Any
    ) -> None:
        # SQLAlchemy's listeners, writing to _add_owner / _drop_owner instead of _parents; the
        # class-wide ones are shared by all tracked attributes of the class (_ClassTracking).
        key = attribute.key
        mapped: type[Any] = parent_cls  # a mapped class (Mutable types it loosely)
        if mapped is not attribute.class_:
            return
        _ClassTracking.of(mapped).attributes.append((key, coerce, cls))

        def set_(state: "InstanceState[Any]", value: Any, oldvalue: Any, initiator: Any) -> Any:
            if value is oldvalue:
                return value
            if isinstance(value, cls.plain) and not isinstance(value, cls):
                value = cls.coerce(key, value)
            # Anything else (None, a str given to a list field) is kept as it is, not tracked:
            # SQLAlchemy's coerce raised a bare ValueError naming no model. The check before
            # each write refuses a wrong one as the ValidationError naming model and field
            # that model_validate and insert_many give (and takes a tuple, as they do).
            if isinstance(value, cls):
                value._add_owner(state, key)
            if isinstance(oldvalue, cls):
                oldvalue._drop_owner(state)
            return value

        event.listen(attribute, "set", set_, raw=True, retval=True, propagate=True)


class _ClassTracking:
    """The load, refresh and pickle listeners of one mapped class, for all its tracked columns.

    SQLAlchemy's Mutable adds these per attribute: five ``load`` listeners for a memory,
    each dispatched and each reading ``state.dict`` for every row loaded, which was the
    largest cost of building objects from rows after the garbage collector. One listener
    walks the class's tracked attributes instead, with the same effect.
    """

    _by_class: "dict[type[Any], _ClassTracking]" = {}

    def __init__(self) -> None:
        # Per tracked attribute: its key, whether to coerce, and the tracked class
        # (TrackedDict or TrackedList: typed Any, as _Tracked itself takes no value).
        self.attributes: list[tuple[str, bool, type[Any]]] = []

    @classmethod
    def of(cls, mapped: type[Any]) -> "_ClassTracking":
        """The tracking of ``mapped``, whose listeners are added the first time it is asked."""
        tracking = cls._by_class.get(mapped)
        if tracking is None:
            tracking = cls._by_class[mapped] = cls()
            tracking._listen(mapped)
        return tracking

    def _listen(self, mapped: type[Any]) -> None:
        event.listen(mapped, "_sa_event_merge_wo_load", self.load, raw=True, propagate=True)
        event.listen(mapped, "load", self.load, raw=True, propagate=True)
        event.listen(mapped, "refresh", self.load_attrs, raw=True, propagate=True)
        event.listen(mapped, "refresh_flush", self.load_attrs, raw=True, propagate=True)
        event.listen(mapped, "pickle", self.pickle, raw=True, propagate=True)
        event.listen(mapped, "unpickle", self.unpickle, raw=True, propagate=True)

    def load(self, state: "InstanceState[Any]", *args: Any) -> None:
        """Make each loaded JSON value of the row a tracked one, owned by the row."""
        loaded = state.dict
        for key, coerce, tracked_class in self.attributes:
            value = loaded.get(key)
            if value is None:
                continue
            # The common cases, as coerce and _add_owner would do them, without their checks:
            # a value just read (tracked already on SQLite, plain from PostgreSQL), whose one
            # owner is this row.
            if type(value) is tracked_class and getattr(value, "_owner_state", None) is None:
                value._owner_state, value._owner_key = state, key
                continue
            if coerce and type(value) is tracked_class.plain:
                tracked = tracked_class(value)
                tracked._owner_state, tracked._owner_key = state, key
                loaded[key] = tracked
                continue
            if coerce:
                tracked = tracked_class.coerce(key, value)
                assert tracked is not None  # coerce turns only None into None
                loaded[key] = value = tracked
            value._add_owner(state, key)

    def load_attrs(self, state: "InstanceState[Any]", ctx: Any, attrs: Any) -> None:
        """As ``load``, for the attributes refreshed (all of them when ``attrs`` is empty)."""
        if not attrs:
            self.load(state)
            return
        loaded = state.dict
        for key, coerce, tracked_class in self.attributes:
            value = loaded.get(key) if key in attrs else None
            if value is None:
                continue
            if coerce:
                tracked = tracked_class.coerce(key, value)
                assert tracked is not None
                loaded[key] = value = tracked
            value._add_owner(state, key)

    def pickle(self, state: "InstanceState[Any]", state_dict: dict[str, Any]) -> None:
        for key, _, _ in self.attributes:
            value = state.dict.get(key)
            if value is not None:
                state_dict.setdefault("tmws.tracked.values", {})[key] = value

    def unpickle(self, state: "InstanceState[Any]", state_dict: dict[str, Any]) -> None:
        values = state_dict.get("tmws.tracked.values", {})
        for key, _, _ in self.attributes:
            value = values.get(key)
            if value is not None:
                value._add_owner(state, key)


class TrackedDict(_Tracked, MutableDict[Any, Any]):
    """A JSON object whose in-place edits are saved (``MutableDict`` with cheaper owners)."""

    __slots__ = ("_more", "_owner_key", "_owner_state")
    plain = dict


class TrackedList(_Tracked, MutableList[Any]):
    """A JSON array whose in-place edits are saved (``MutableList`` with cheaper owners)."""

    __slots__ = ("_more", "_owner_key", "_owner_state")
    plain = list


# In-place edits of these are tracked and saved at the next flush.
def _tracked_json(tracked: type[TrackedDict] | type[TrackedList]) -> JSONValue:
    """A JSON column type whose values are ``tracked``: read as such, and edits saved."""
    column_type = JSONValue(tracked_as=tracked)
    tracked.as_mutable(column_type)  # returns column_type itself, typed as any column type
    return column_type


JSONDict = _tracked_json(TrackedDict)
JSONList = _tracked_json(TrackedList)


class StrEnumType(TypeDecorator[enum.Enum]):
    """An enum stored in ``VARCHAR(n)``, as its values (default) or as its member names.

    ``n`` is the longest stored string, which is how SQLAlchemy sized TMWS's columns.
    Strings read back that are not members are returned as plain strings instead of making
    every reader of the table fail, so a file that someone else wrote stays readable.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum_class: type[enum.Enum], *, store_names: bool = False) -> None:
        self.enum_class = enum_class
        self.store_names = store_names
        stored = [m.name if store_names else str(m.value) for m in enum_class]
        super().__init__(length=max(len(s) for s in stored))
        self._to_member = dict(zip(stored, enum_class, strict=True))

    def _stored(self, member: enum.Enum) -> str:
        return member.name if self.store_names else str(member.value)

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, self.enum_class):
            return self._stored(value)
        try:
            return self._stored(self.enum_class(value))
        except ValueError:
            if self.store_names and value in self.enum_class.__members__:
                return str(value)
            allowed = ", ".join(repr(str(m.value)) for m in self.enum_class)
            raise ValueError(
                f"{value!r} is not a valid {self.enum_class.__name__} (expected one of {allowed})"
            ) from None

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        return self._to_member.get(value, value)

    def result_processor(self, dialect: Dialect, coltype: object) -> "_ResultProcessorType[Any]":
        if self.impl_instance.result_processor(dialect, coltype) is not None:
            return super().result_processor(dialect, coltype)  # type: ignore[return-value]
        # The text arrives as it is: one lookup, without TypeDecorator's two calls per value.
        to_member = self._to_member.get
        return lambda value: None if value is None else to_member(value, value)


class HexUUID(TypeDecorator[str]):
    """TMWS's ``UUID`` columns: a uuid stored as 32-char hex without dashes.

    On our own files the column is declared ``CHAR(32)`` (TEXT affinity), so no id can be
    turned into a number; files adopted from TMWS keep their ``UUID`` declaration. Accepts a
    ``uuid.UUID``, a dashed or a hex string; always returns the 32-char hex string. A value
    that SQLite's NUMERIC affinity already turned into an integer is read back zero-padded.
    """

    impl = CHAR
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(length=32)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if _on_postgres(dialect):
            from sqlalchemy.dialects.postgresql import UUID

            return dialect.type_descriptor(UUID(as_uuid=False))  # binds and reads strings
        return dialect.type_descriptor(CHAR(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, uuid.UUID):
            return value.hex
        return uuid.UUID(str(value)).hex

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, int):
            return str(value).zfill(32)
        try:
            return uuid.UUID(str(value)).hex
        except ValueError:
            # Lost to NUMERIC affinity in a TMWS file (e.g. read back as a float): keep the
            # row readable rather than failing every reader of the table.
            return str(value)
