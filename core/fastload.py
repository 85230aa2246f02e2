"""A fast path for marshmallow schemas on hot endpoints: msgspec checks, marshmallow decides.

flask-smorest validates and documents request bodies with marshmallow. For a report-sized body
marshmallow's field-by-field load costs 0.1-0.2 ms, a fifth of a whole ingest request. `FastLoad`
compiles a schema's fields once into msgspec types, whose checks run in C, and a small normaliser
that shapes an accepted body the way marshmallow's load would (floats as float, defaults filled in,
unknown fields kept or dropped as the schema's `unknown` says).

marshmallow stays the authority. The compiled type is narrower than the schema: it takes only the
plain form of each value (a JSON integer for an Integer, not "12" or 12.0). Whatever it refuses, and
anything the normaliser is unsure of, goes to marshmallow's own load, so errors, messages and edge
cases are marshmallow's. A schema with a feature the compiler does not know (hooks, other fields or
validators, data_key) is not compiled at all and always loads through marshmallow.

A field class can take part by defining `fast_type(self) -> (msgspec type, normalise or None)`;
`normalise(value)` returns the loaded value or raises `FallBack`.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Optional

import marshmallow as ma
import msgspec
from marshmallow import fields, validate

log = logging.getLogger(__name__)

__all__ = ["FallBack", "FastLoad", "FastLoadSchema", "NotCompilable", "float_type"]


class FallBack(Exception):
    """The fast path is unsure of this value: let marshmallow load the body."""


class NotCompilable(Exception):
    """The schema uses something the compiler does not translate."""


Normalise = Callable[[Any], Any]
_missing = ma.missing


def _range_meta(validators: list, *, integral: bool) -> dict:
    meta: dict = {}
    for validator in validators:
        if isinstance(validator, validate.Range):
            if validator.min is not None:
                meta["ge" if validator.min_inclusive else "gt"] = validator.min
            if validator.max is not None:
                meta["le" if validator.max_inclusive else "lt"] = validator.max
        else:
            raise NotCompilable(f"validator {type(validator).__name__}")
    if integral and any(not float(v).is_integer() for v in meta.values()):
        raise NotCompilable("fractional bound on an Integer")
    return meta


def _string(field: fields.String) -> tuple[Any, Normalise | None]:
    meta: dict = {}
    annotation: Any = str
    for validator in field.validators:
        if isinstance(validator, validate.Length) and validator.equal is None:
            if validator.min is not None:
                meta["min_length"] = validator.min
            if validator.max is not None:
                meta["max_length"] = validator.max
        elif isinstance(validator, validate.OneOf) and all(isinstance(c, str) for c in validator.choices):
            annotation = Literal[tuple(validator.choices)]
        elif (
            isinstance(validator, validate.Regexp)
            and "pattern" not in meta
            and validator.regex.pattern.startswith("^")  # re.match == re.search (msgspec's)
            and validator.regex.flags == re.UNICODE
        ):
            meta["pattern"] = validator.regex.pattern
        else:
            raise NotCompilable(f"validator {type(validator).__name__} on a String")
    return (Annotated[annotation, msgspec.Meta(**meta)] if meta else annotation), None


def float_type(field: fields.Float, *, keep_int: bool = False) -> tuple[Any, Normalise | None]:
    """The fast type of a Float field. `keep_int`: for a field class that loads a JSON integer as
    that integer (its `fast_type` calls this), instead of marshmallow's float."""
    meta = _range_meta(field.validators, integral=False)
    check_finite = not field.allow_nan

    def normalise(value):
        if keep_int and type(value) is int:
            return value  # in range: msgspec checked the bounds
        value = float(value)  # marshmallow loads a JSON integer sent for a Float as a float
        if check_finite and not math.isfinite(value):
            raise FallBack()
        return value

    return (Annotated[float, msgspec.Meta(**meta)] if meta else float), normalise


def _integer(field: fields.Integer) -> tuple[Any, Normalise | None]:
    meta = _range_meta(field.validators, integral=True)
    return (Annotated[int, msgspec.Meta(**meta)] if meta else int), None


class _Compiler:
    def __init__(self):
        self.count = 0

    def field(self, field: fields.Field) -> tuple[Any, Normalise | None]:
        if field.data_key is not None or field.attribute is not None:
            raise NotCompilable("data_key/attribute")
        if hasattr(field, "fast_type"):
            annotation, normalise = field.fast_type()
        elif type(field) is fields.String:
            annotation, normalise = _string(field)
        elif type(field) is fields.Float:
            annotation, normalise = float_type(field)
        elif type(field) is fields.Integer:
            annotation, normalise = _integer(field)
        elif (
            type(field) is fields.Nested
            and not field.many
            and field.only is None
            and not field.exclude
            and field.unknown is None
        ):
            annotation, normalise = self.schema(field.schema)
        elif type(field) is fields.List:
            annotation, inner = self.field(field.inner)
            annotation = list[annotation]
            if field.validators:
                raise NotCompilable("validator on a List")
            if inner is not None:
                normalise = lambda values, inner=inner: [inner(v) for v in values]  # noqa: E731
            else:
                normalise = list
        else:
            raise NotCompilable(f"field {type(field).__name__}")
        if field.allow_none:
            annotation = Optional[annotation]  # noqa: UP045 - a runtime type for msgspec
            if normalise is not None:
                normalise = lambda value, inner=normalise: None if value is None else inner(value)  # noqa: E731
        return annotation, normalise

    def schema(self, schema: ma.Schema) -> tuple[Any, Normalise]:
        if schema._hooks and any(schema._hooks.values()):
            raise NotCompilable(f"hooks on {type(schema).__name__}")
        if schema.many:
            raise NotCompilable("many=True")
        struct_fields = []
        plan = []  # (key, normalise or None, default or missing)
        for name, field in schema.load_fields.items():
            annotation, normalise = self.field(field)
            default = field.load_default
            if field.required:
                struct_fields.append((name, annotation))
            elif default is _missing:  # absent stays absent (normalise); None only lets msgspec pass it
                struct_fields.append((name, annotation, None))
            elif callable(default):
                raise NotCompilable("callable load_default")
            else:
                struct_fields.append((name, annotation, default))
            plan.append((name, normalise, default))
        unknown = schema.unknown
        self.count += 1
        struct = msgspec.defstruct(
            f"Fast{type(schema).__name__}{self.count}",
            struct_fields,
            forbid_unknown_fields=unknown == ma.RAISE,
            kw_only=True,
        )
        keep_unknown = unknown == ma.INCLUDE
        known = {name for name, _, _ in plan}

        def normalise(data: dict) -> dict:
            out = {}
            for name, inner, default in plan:
                value = data.get(name, _missing)
                if value is _missing:
                    if default is not _missing:
                        out[name] = default
                    continue
                out[name] = value if inner is None else inner(value)
            if keep_unknown:
                for key, value in data.items():
                    if key not in known:
                        out[key] = value
            return out

        return struct, normalise


class FastLoad:
    """`load(data)`: the loaded dict, or None when marshmallow must decide (refused or unsure)."""

    def __init__(self, schema: ma.Schema):
        try:
            self.type, self._normalise = _Compiler().schema(schema)
        except NotCompilable as reason:
            log.info("%s loads through marshmallow only: %s", type(schema).__name__, reason)
            self.type = None

    def load(self, data: Any) -> dict | None:
        if self.type is None or not isinstance(data, dict):
            return None
        try:
            msgspec.convert(data, self.type)
            return self._normalise(data)
        except (msgspec.ValidationError, FallBack):
            return None


class FastLoadSchema(ma.Schema):
    """A schema whose plain `load(data)` tries the compiled fast path first."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fast: FastLoad | None = None

    def load(self, data, *, many=None, partial=None, unknown=None):
        if many is None and partial is None and unknown in (None, self.unknown):
            if self._fast is None:
                self._fast = FastLoad(self)
            loaded = self._fast.load(data)
            if loaded is not None:
                return loaded
        return super().load(data, many=many, partial=partial, unknown=unknown)
