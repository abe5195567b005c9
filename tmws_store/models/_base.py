"""TMWSModel, the base of every table, and the field helpers the models share.

TMWSModel has a SQLAlchemy registry of its own, so ``TMWSModel.metadata`` holds exactly
tmws_store's tables: nothing that a user, a test or another library defines on the global
``SQLModel.metadata`` can leak into the database, and no table of ours can be missed.

Columns are declared in TMWS's order, so a fresh file's ``CREATE TABLE`` text matches
TMWS's; that is why ``id``, ``created_at``, ``updated_at`` and ``metadata`` are written
out at the end of each model with the helpers below instead of coming from a mixin
(Pydantic puts inherited fields first).
"""

import copy
import enum
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import (
    TYPE_CHECKING,
    Annotated,
    Any,
    ClassVar,
    Literal,
    NamedTuple,
    Self,
    TypeVar,
)

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import InitErrorDetails
from sqlalchemy import Integer, String, event, inspect, text
from sqlalchemy.orm import PassiveFlag, RelationshipProperty, registry, strategies
from sqlalchemy.orm.attributes import set_attribute
from sqlmodel import Field, Relationship, SQLModel
from sqlmodel._compat import finish_init as _finish_init

from ..errors import RelationshipNotLoadedError
from ..types import (
    SQLITE_INTEGERS,
    HexUUID,
    JSONDict,
    JSONList,
    StrEnumType,
    UTCDateTime,
    as_utc,
    default_factory,
    is_json_type,
    json_problem,
    new_id,
    utc_now,
)

__all__ = [
    "VALUE_CONFIG",
    "CheckedAccessLevel",
    "TMWSModel",
    "column_checks",
    "created_at_field",
    "dict_field",
    "enum_field",
    "id_field",
    "json_fields",
    "list_field",
    "metadata_field",
    "per_model",
    "relationship",
    "storable_datetime",
    "storable_integer",
    "storable_json",
    "storable_json_not_null",
    "storable_text",
    "storable_uuid",
    "updated_at_field",
    "validate_instance",
    "value_annotation",
]

# --- values no column can keep -------------------------------------------------------------
#
# NaN and the infinities: SQLite stores a NaN float as NULL (a NOT NULL column then fails at
# the write with a raw IntegrityError), and JSON has no spelling for any of them (json.dumps
# writes ``NaN``, which PostgreSQL refuses). Every float field and every JSON field of every
# model refuses them when validated, through the rules below: the same rules on each path
# (``model_validate``, the check before each flush, and ``insert_many``). The same rules
# refuse the other values that would pass validation and then fail at the write: in JSON,
# what json.dumps cannot write (a datetime, bytes, a set; nesting deeper than
# ``MAX_JSON_DEPTH``); in a datetime column, an instant that has no UTC form to be stored in.

# Pydantic settings of every model, and of the field-by-field validators built from them.
# ``extra="forbid"``: a misspelled key ("tagz") is an "extra_forbidden" error naming it, not a
# value silently dropped (model_validate and insert_many; the constructor: see _known_keys).
VALUE_CONFIG = ConfigDict(allow_inf_nan=False, extra="forbid")


# What TMWS's access-level CHECKs allow (tasks, task templates, learning patterns), mirrored as
# a Literal so that a bad value is a ValidationError naming the field. Plain TEXT in TMWS, not
# the AccessLevel enum: 'team' is an AccessLevel but these CHECKs refuse it.
CheckedAccessLevel = Literal["private", "shared", "public", "system"]


def storable_json(value: Any) -> Any:
    """A JSON field's value, unchanged; raises if ``json_text`` could not write it.

    NaN or an infinity anywhere inside, a value JSON has no type for, or nesting deeper than
    ``MAX_JSON_DEPTH`` (see ``json_problem``).
    """
    problem = json_problem(value)
    if problem is not None:
        # A ValueError (Pydantic's "value_error"), which validate_instance can pass on as it is.
        at, what = problem
        path = "".join(f"[{step!r}]" for step in at)
        where = f", found at {path}" if path else ""
        raise ValueError(f"JSON cannot hold {what}{where}")
    return value


def storable_integer(value: Any) -> Any:
    """An integer field's value, unchanged; raises if SQLite's 64-bit INTEGER cannot hold it."""
    if type(value) is int and value not in SQLITE_INTEGERS:
        raise ValueError("the number is outside the 64-bit range a database integer holds")
    return value


def storable_uuid(value: Any) -> Any:
    """A uuid field's value, unchanged; raises unless ``HexUUID`` can store it (a
    ``uuid.UUID``, or a dashed or 32-hex-digit string), which it would refuse at the write."""
    if value is not None and not isinstance(value, uuid.UUID):
        try:
            uuid.UUID(str(value))
        except ValueError:
            raise ValueError("not a UUID (32 hex digits, dashed or not)") from None
    return value


def storable_text(value: Any) -> Any:
    """A text field's value, unchanged; raises if it has no UTF-8 form (a lone surrogate,
    such as '\\ud800', which the driver refuses with a raw UnicodeEncodeError)."""
    if type(value) is str and not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            # The position only: the text itself may be a secret.
            raise ValueError(
                f"the text has no UTF-8 form (a lone surrogate at {exc.start})"
            ) from None
    return value


def storable_json_not_null(value: Any) -> Any:
    """``storable_json`` for a NOT NULL JSON column: a field typed ``Any`` takes None, which the
    column would then refuse as a NOT NULL violation at the write, naming no field."""
    if value is None:
        raise ValueError("a value is required here (the column is NOT NULL)")
    return storable_json(value)


def storable_datetime(value: Any) -> Any:
    """A datetime field's value, unchanged; raises if it has no UTC form (``as_utc``)."""
    if isinstance(value, datetime):
        as_utc(value)
    return value


# The setters of the slots Pydantic keeps beside an object's __dict__: the fields set, the
# extra values, the private attributes.
_set_fields_set, _set_extra, _set_private = (
    vars(BaseModel)[name].__set__
    for name in ("__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
)


class TMWSModel(SQLModel, registry=registry()):
    """Base of the 42 TMWS tables. Its ``metadata`` holds those tables and nothing else."""

    if TYPE_CHECKING:
        # Every table names itself with a plain string. SQLModel types the attribute as a
        # ``declared_attr``, which a string is not to a type checker; declared once here.
        __tablename__: ClassVar[str]  # pyright: ignore[reportIncompatibleVariableOverride]

    # Merged by Pydantic into SQLModel's own config (SQLModelConfig, a ConfigDict).
    # ``defer_build``: a model's validator and serializer are generated the first time it
    # validates, dumps or gives its JSON schema, not when the class is made. That was a third
    # of importing the 42 models, and sessions never need them: the constructor, the check
    # before each write (``validate_instance``) and insert_many use validators of their own.
    # The schema built later is the very same (tests/test_model_imports.py builds them all).
    model_config = ConfigDict(**VALUE_CONFIG, defer_build=True)  # type: ignore[assignment]

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        # For model_validate; the other paths build their validators with value_annotation.
        check = column_checks(cls).get(info.field_name or "")
        return value if check is None else check(value)

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        """What SQLModel's ``__new__`` does, for every row loaded (SQLAlchemy calls no
        ``__init__`` then): Pydantic's three slots set to what its constructor would leave.

        SQLModel's goes through ``super().__new__`` and a helper that sets each slot by name
        with ``object.__setattr__``; the slots' own setters (``_set_fields_set`` and so on) do it in
        half the time (SQLModel's ``__new__`` was about a tenth of loading a memory).
        """
        new = object.__new__(cls)
        _set_fields_set(new, set())
        _set_extra(new, None)
        _set_private(new, None)
        return new

    def __setattr__(self, name: str, value: Any) -> None:
        """SQLModel's assignment, with a JSON value made tracked before it is stored.

        SQLModel sets a column through SQLAlchemy's events, which store a tracked copy of a
        dict or list, and then stores the plain value over that copy for Pydantic: in-place
        edits of it after the next flush were not saved. Made tracked first, the one value is
        stored in both places.
        """
        if name == "_sa_instance_state":
            # SQLAlchemy's own slot, set once for every object made or loaded: stored as
            # SQLModel's __setattr__ stores it, without its checks or the lookup below.
            vars(self)[name] = value
            return
        tracked = tracked_json_classes(type(self)).get(name)
        if tracked is not None and isinstance(value, tracked.plain):
            value = tracked.coerce(name, value)
        super().__setattr__(name, value)

    def __init__(self, **data: Any) -> None:
        """What SQLModel's constructor of a table model does, with a plan made once per model.

        SQLModel asks each field for its default (Pydantic inspects the factory's signature
        every time) and sets every value through two ``__setattr__`` layers; that was two
        thirds of ``session.add_all`` for 10k rows. The same values reach the same places:
        SQLAlchemy's attribute events first, then the instance ``__dict__``, as there.
        """
        if not _finish_init.get():
            return  # model_validate builds the instance empty, then sets validated values
        plan = _construct_plan(type(self))
        if plan is None:
            super().__init__(**data)  # a model that is not a table: SQLModel validates
            return
        given: dict[str, Any] = {}
        defaults: dict[str, Any] = {}
        for name, alias, default, make in plan.fields:
            if alias is not None and alias in data:
                given[name] = data.pop(alias)
            elif name in data:
                given[name] = data.pop(name)
            elif make is not None:
                defaults[name] = make()
            elif default is not _REQUIRED:
                defaults[name] = default
        fields_set = set(given)
        given.update(defaults)
        for name, value in given.items():
            # SQLAlchemy's events and history. What they store in the instance __dict__ is
            # the value Pydantic reads too: for a JSON column, its tracked copy (SQLModel then
            # stores the plain value over it, and in-place edits after a flush were lost).
            set_attribute(self, name, value)
        # The fields given; __new__ has set the other two slots (no extra, no private values).
        _set_fields_set(self, fields_set)
        for name in plan.relationships:
            if name in data:
                setattr(self, name, data[name])


# Per model, filled on first use (a plain dict: type checkers take a model class for an
# unhashable model instance in functools.cache's signature).
_T = TypeVar("_T")


def per_model(function: "Callable[[type[TMWSModel]], _T]") -> "Callable[[type[TMWSModel]], _T]":
    """``functools.cache`` for a function of a model class: computed once per class.

    (Pyright takes a Pydantic class for an unhashable instance, so the cache is typed here.)
    """
    cached: Callable[[type[TMWSModel]], _T] = cache(function)  # pyright: ignore[reportAssignmentType]
    return cached


@per_model
def column_checks(model: type[TMWSModel]) -> dict[str, Callable[[Any], Any]]:
    """Per attribute, the check its column's type needs beyond the field's annotation:
    ``storable_json`` for JSON columns (``storable_json_not_null`` for NOT NULL ones),
    ``storable_datetime`` for ``UTCDateTime`` ones,
    ``storable_integer`` for integer ones, ``storable_text`` for text ones and
    ``storable_uuid`` for TMWS's 32-hex-digit uuid ones.

    Read from the mapped columns, not from the fields' ``sa_type``, which SQLModel keeps in a
    different place from one version to the next.
    """
    mapper = inspect(model, raiseerr=False)
    if mapper is None:
        return {}  # not a table: no columns
    checks: dict[str, Callable[[Any], Any]] = {}
    for prop in mapper.column_attrs:
        column_type = prop.columns[0].type
        if is_json_type(column_type):
            nullable = prop.columns[0].nullable
            checks[prop.key] = storable_json if nullable else storable_json_not_null
        elif isinstance(column_type, UTCDateTime):
            checks[prop.key] = storable_datetime
        elif isinstance(column_type, HexUUID):
            checks[prop.key] = storable_uuid
        elif isinstance(column_type, Integer):
            checks[prop.key] = storable_integer
        elif isinstance(column_type, String):  # Text and AutoString too; not our enum types
            checks[prop.key] = storable_text
    return checks


@per_model
def tracked_json_classes(model: type[TMWSModel]) -> dict[str, Any]:
    """Per attribute of a JSON column whose in-place edits are saved, the class its values
    are tracked as (``TrackedDict`` or ``TrackedList``); empty for a model that is no table."""
    mapper = inspect(model, raiseerr=False)
    if mapper is None:
        return {}
    return {
        attribute.key: tracked
        for attribute in mapper.column_attrs
        if (tracked := getattr(attribute.columns[0].type, "tracked_as", None)) is not None
    }


@per_model
def json_fields(model: type[TMWSModel]) -> frozenset[str]:
    """The attribute names (``metadata_json``, not ``metadata``) of the model's JSON columns."""
    return frozenset(
        name
        for name, check in column_checks(model).items()
        if check in (storable_json, storable_json_not_null)
    )


def value_annotation(model: type[TMWSModel], name: str) -> Any:
    """A field's annotation with its constraints and its column's check (``column_checks``).

    For validating one field (or a plain Pydantic copy of a model) with ``VALUE_CONFIG``.
    """
    annotation = model.model_fields[name].rebuild_annotation()
    check = column_checks(model).get(name)
    if check is not None:
        return Annotated[annotation, AfterValidator(check)]
    return annotation


# --- the constructor's plan ------------------------------------------------------------

_REQUIRED = object()  # a field without a default: absent from the constructor, left unset

# Defaults used as they are; any other default is deep-copied for each object, as Pydantic
# does (smart_deepcopy), so that no two objects share a mutable default.
_IMMUTABLE = (type(None), str, bytes, int, float, bool, enum.Enum, datetime)


class _ConstructPlan(NamedTuple):
    # Per field: name, alias, default (or _REQUIRED), factory (or None).
    fields: tuple[tuple[str, str | None, Any, Callable[[], Any] | None], ...]
    relationships: tuple[str, ...]


def _copied(default: Any) -> Callable[[], Any]:
    return lambda: copy.deepcopy(default)


@per_model
def _construct_plan(model: type[TMWSModel]) -> _ConstructPlan | None:
    """How TMWSModel.__init__ fills a table model; None for a model that is not a table (or
    one this plan does not cover: a factory taking the validated data, post-init hooks)."""
    if inspect(model, raiseerr=False) is None or model.__pydantic_post_init__:
        return None
    fields = []
    for name, field in model.model_fields.items():
        make: Callable[[], Any] | None = None
        default: Any = _REQUIRED
        if field.default_factory is not None:
            if field.default_factory_takes_validated_data:
                return None
            make = field.default_factory  # type: ignore[assignment]
        elif not field.is_required():
            default = field.default
            if not isinstance(default, _IMMUTABLE):
                make = _copied(default)
        fields.append((name, field.alias, default, make))
    return _ConstructPlan(tuple(fields), tuple(model.__sqlmodel_relationships__))


_CURRENT_TIMESTAMP = text("CURRENT_TIMESTAMP")


# Default factories are plain functions, not the builtins ``dict`` and ``list``: Pydantic
# inspects a factory's signature each time it builds a model, and for a builtin that means
# parsing its text signature, which made building an object several times slower. Each is
# marked ``default_factory``, which gives it a ready signature to answer with.
@default_factory
def empty_dict() -> dict[str, Any]:
    """A new empty JSON object."""
    return {}


@default_factory
def empty_list() -> list[Any]:
    """A new empty JSON array."""
    return []


def id_field() -> Any:
    """``id VARCHAR(36)`` primary key, a new dashed uuid4 string by default."""
    return Field(default_factory=new_id, primary_key=True, max_length=36, sa_type=String(36))


def created_at_field() -> Any:
    """``created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL``, set to now in Python."""
    return Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"server_default": _CURRENT_TIMESTAMP},
    )


def updated_at_field() -> Any:
    """``updated_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL``, refreshed on every update."""
    return Field(
        default_factory=utc_now,
        sa_type=UTCDateTime,
        nullable=False,
        sa_column_kwargs={"server_default": _CURRENT_TIMESTAMP, "onupdate": utc_now},
    )


def metadata_field() -> Any:
    """TMWS's ``metadata JSON DEFAULT '{}' NOT NULL`` column, as attribute ``metadata_json``.

    ``metadata`` is reserved by SQLAlchemy's declarative classes, hence the other name.
    """
    return Field(
        default_factory=empty_dict,
        sa_type=JSONDict,
        nullable=False,
        sa_column_kwargs={"name": "metadata", "server_default": text("'{}'")},
    )


def _json_field(sa_type: Any, empty: Any, nullable: bool, required: bool, **kwargs: Any) -> Any:
    if nullable:
        return Field(default=None, sa_type=sa_type, **kwargs)
    if required:
        return Field(sa_type=sa_type, nullable=False, **kwargs)
    return Field(default_factory=empty, sa_type=sa_type, nullable=False, **kwargs)


def dict_field(*, nullable: bool = False, required: bool = False, **kwargs: Any) -> Any:
    """A ``JSON`` column holding an object; in-place edits are saved.

    Defaults to an empty object; ``nullable=True`` defaults to NULL instead, and
    ``required=True`` has no default (NOT NULL, the caller must give a value).
    """
    return _json_field(JSONDict, empty_dict, nullable, required, **kwargs)


def list_field(*, nullable: bool = False, required: bool = False, **kwargs: Any) -> Any:
    """A ``JSON`` column holding an array; in-place edits are saved. Options as ``dict_field``."""
    return _json_field(JSONList, empty_list, nullable, required, **kwargs)


def enum_field(
    default: enum.Enum | type[enum.Enum],
    *,
    nullable: bool = False,
    store_names: bool = False,
    **kwargs: Any,
) -> Any:
    """A ``VARCHAR(n)`` enum column holding the member's value (or name, where TMWS does).

    ``enum_field(Color.RED)``: NOT NULL with that default. ``enum_field(Color)``: NOT NULL,
    the caller must give a value. ``enum_field(Color, nullable=True)``: NULL by default.
    """
    enum_class = default if isinstance(default, type) else type(default)
    sa_type = StrEnumType(enum_class, store_names=store_names)
    if nullable:
        return Field(default=None, sa_type=sa_type, **kwargs)
    if isinstance(default, type):
        return Field(sa_type=sa_type, nullable=False, **kwargs)
    return Field(default=default, sa_type=sa_type, nullable=False, **kwargs)


# The loader of every relationship: SQLAlchemy's ``lazy="raise"``, with a message that says
# what to do (SQLAlchemy's own says only "'Agent.tasks' is not available due to lazy='raise'").
# Its lazy loader is LazyLoader in SQLAlchemy 2.0 and _LazyLoader in 2.1; the loading tests
# check the message, so a release that changes this hook fails them instead of going unseen.
_LAZY_LOADER: Any = vars(strategies).get("_LazyLoader") or vars(strategies)["LazyLoader"]


@RelationshipProperty.strategy_for(lazy="tmws_explicit")
class _ExplicitLoader(_LAZY_LOADER):  # type: ignore[misc]
    def __init__(self, parent: Any, strategy_key: Any) -> None:
        super().__init__(parent, strategy_key)
        self._raise_always = True  # SQLAlchemy sets it only for the key lazy="raise"

    def _load_for_state(self, state: Any, passive: Any, *args: Any, **kwargs: Any) -> Any:
        # A flush loads what it must to cascade a delete or unlink a row (session.delete(agent)
        # deletes its tasks): that load was asked for, so it runs instead of raising.
        session = state.session
        if session is not None and session._flushing:
            passive |= PassiveFlag.NO_RAISE
        return super()._load_for_state(state, passive, *args, **kwargs)

    def _invoke_raise_load(self, state: Any, passive: Any, lazy: Any) -> None:
        owner, key = self.parent.class_.__name__, self.key
        raise RelationshipNotLoadedError(
            f"{owner}.{key} was not loaded: tmws_store loads a relationship only when the "
            f"query asks for it, e.g. select({owner}).options(selectinload({owner}.{key})) "
            "(from sqlalchemy.orm import selectinload), in sync and async sessions alike"
        )


def relationship(
    back_populates: str | None = None, *, cascade_delete: bool = False, **kwargs: Any
) -> Any:
    """A relationship loaded only when a query asks for it; touching it otherwise raises.

    ``select(Agent).options(selectinload(Agent.tasks))`` loads the tasks with the agents
    (one more ``SELECT`` for all of them; ``joinedload`` for a many-to-one is one JOIN).
    Without such an option ``agent.tasks`` raises ``RelationshipNotLoadedError`` naming that
    option, whether the session is sync or async, open or closed: a query never pays for
    rows it did not ask for (an agent with thousands of tasks loads as fast as one with
    none), and an async session never meets an implicit load (``MissingGreenlet``).
    Objects you create start with empty relationships, and writes need no load:
    ``Task(assigned_agent=agent)`` or ``task.assigned_agent = agent`` work on any agent,
    ``agent.tasks.append(task)`` on an agent you created or loaded with its tasks.
    ``kwargs`` go to SQLAlchemy's ``relationship()``.
    """
    return Relationship(
        back_populates=back_populates,
        cascade_delete=cascade_delete,
        sa_relationship_kwargs={"lazy": "tmws_explicit", **kwargs},
    )


# --- validation at the boundary ------------------------------------------------------------
#
# SQLModel does not validate in a table model's __init__, so ``Agent(status="bogus")`` is a
# live object. Before any row of ours is inserted or updated, every loaded field is checked
# against the model's own Pydantic field definition; a bad value raises a ValidationError
# naming the model and the field, the flush fails, and the transaction writes nothing.


@per_model
def _field_adapters(model: type[TMWSModel]) -> dict[str, TypeAdapter[Any]]:
    return {
        name: TypeAdapter(value_annotation(model, name), config=VALUE_CONFIG)
        for name in model.model_fields
    }


def validate_instance(obj: TMWSModel) -> None:
    """Check every loaded field of ``obj`` as ``model_validate`` would; raise ValidationError.

    Values that Pydantic coerces (``"2026-01-01T00:00"`` to a datetime, ``"active"`` to an
    enum member) are stored back on the object in their validated form.
    """
    model = type(obj)
    loaded = obj.__dict__
    errors: list[InitErrorDetails] = []
    for name, adapter in _field_adapters(model).items():
        if name not in loaded:
            continue  # not loaded (an expired attribute): unchanged, nothing to check
        value = loaded[name]
        try:
            validated = adapter.validate_python(value)
        except ValidationError as exc:
            for err in exc.errors():
                detail: InitErrorDetails = {
                    "type": err["type"],
                    "loc": (name, *err["loc"]),
                    "input": err["input"],
                }
                if "ctx" in err:
                    detail["ctx"] = err["ctx"]
                errors.append(detail)
            continue
        coerced = type(validated) is not type(value) or validated != value
        if validated is not value and coerced and not isinstance(value, dict | list):
            setattr(obj, name, validated)
    if errors:
        raise ValidationError.from_exception_data(model.__name__, errors)


def _validate_before_write(mapper: Any, connection: Any, target: TMWSModel) -> None:
    validate_instance(target)


@per_model
def _known_keys(model: type[TMWSModel]) -> frozenset[str]:
    """What the constructor takes: the fields (and their aliases) and the relationships."""
    fields = model.model_fields
    aliases = {field.alias for field in fields.values() if field.alias}
    return frozenset({*fields, *aliases, *model.__sqlmodel_relationships__})


def _refuse_unknown_keys(target: TMWSModel, args: Any, kwargs: dict[str, Any]) -> None:
    """Raise for a constructor keyword that is neither a field nor a relationship.

    SQLModel's constructor of a table model skips Pydantic, and with it ``extra="forbid"``:
    ``Memory(tagz=[...])`` would drop the tags without a word. Only a user's own call
    runs this (SQLAlchemy's "init" event): loading rows from the database does not.
    """
    model = type(target)
    unknown = sorted(kwargs.keys() - _known_keys(model))
    if unknown:
        errors: list[InitErrorDetails] = [
            {"type": "extra_forbidden", "loc": (key,), "input": kwargs[key]} for key in unknown
        ]
        raise ValidationError.from_exception_data(model.__name__, errors)


event.listen(TMWSModel, "before_insert", _validate_before_write, propagate=True)
event.listen(TMWSModel, "before_update", _validate_before_write, propagate=True)
event.listen(TMWSModel, "init", _refuse_unknown_keys, propagate=True)
