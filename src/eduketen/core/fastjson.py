"""One-pass decoding and validation of JSON bodies with msgspec, as a fast path in front of the
JSON Schema validation of an ingest path.

``struct_for(components, name)`` builds msgspec Struct types from an OpenAPI file's component
schemas, loaded as they are, so the fast path follows the official file and cannot drift from
it. A decoder built from them accepts only a **subset** of what the JSON Schema validator
(jsonschema_rs, Draft 4, formats checked) accepts:

- no field beyond the schema's ``properties`` anywhere (``forbid_unknown_fields``): msgspec skips
  unknown fields without checking them as orjson does (invalid UTF-8 or ``1e999`` inside one
  would pass), and a body without them needs no pruning, so it is stored as decoded;
- ``string`` with ``minLength``/``maxLength`` (code points, as JSON Schema counts), ``enum`` as a
  ``Literal`` of the members that meet the other keywords; ``integer`` only as an ``enum``;
  ``array`` with ``items``, ``minItems``/``maxItems``; ``object`` with ``properties`` and
  ``required`` (msgspec refuses ``null`` for every one of these, as the schema does);
- ``format: date`` as msgspec's own ``datetime.date`` (exactly ``YYYY-MM-DD``, a real calendar
  day, year 1 or later; parsed in C, a sixth of the cost of a regular expression that checks the
  calendar, and encoded back to the same ten characters); ``format: date-time`` by a regular
  expression anchored with ``\\A``/``\\Z`` (Python's ``$`` would also match before a trailing
  newline) that is stricter than RFC 3339 as the validator reads it: ``T`` and ``Z`` upper case,
  no leap second, every calendar day checked (leap years included) in the expression itself;
- any other keyword (``pattern``, ``additionalProperties``, ``oneOf``, ``minimum``, another
  format, a property name that is no Python identifier) makes the component unsupported:
  ``struct_for`` raises ``Unsupported`` and the caller keeps only its full path.

A body the decoder refuses says nothing about the body: the caller runs its full validation,
which names every offending field. Tests feed the same bodies through both paths.
"""

from __future__ import annotations

import datetime
import keyword
import re
from typing import Annotated, Any, Literal

import msgspec


class Unsupported(ValueError):
    """The schema uses something the fast path does not translate."""


_ANNOTATIONS = {"title", "description", "example", "examples", "nullable", "deprecated", "readOnly", "writeOnly", "externalDocs", "xml"}

# Calendar days: 31-day months, 30-day months, February 1-28, and 29 February of leap years.
_YEAR = r"[0-9]{4}"
_LEAP = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)"
_DAY = (
    rf"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    rf"|02-(?:0[1-9]|1[0-9]|2[0-8]))|{_LEAP}-02-29)"
)
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
FORMATS = {
    "date": rf"\A{_DAY}\Z",
    "date-time": rf"\A{_DAY}T{_TIME}\Z",
}


def _resolve(components: dict[str, Any], schema: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    name = None
    seen = 0
    while "$ref" in schema:
        if set(schema) - {"$ref"} - _ANNOTATIONS:
            raise Unsupported("$ref with sibling keywords")
        ref = schema["$ref"]
        if not ref.startswith("#/components/schemas/"):
            raise Unsupported(f"reference {ref}")
        name = ref.rsplit("/", 1)[1]
        if name not in components:
            raise Unsupported(f"no component {name}")
        schema = components[name]
        seen += 1
        if seen > 50:
            raise Unsupported("reference loop")
    return name, schema


def _check_keys(schema: dict[str, Any], allowed: set[str]) -> None:
    extra = set(schema) - allowed - _ANNOTATIONS
    if extra:
        raise Unsupported(f"keywords {sorted(extra)}")


def _string_ok(value: Any, schema: dict[str, Any]) -> bool:
    if not isinstance(value, str):
        return False
    if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
        return False
    fmt = schema.get("format")
    return fmt is None or re.search(FORMATS[fmt], value) is not None


class _Builder:
    def __init__(self, components: dict[str, Any], prefix: str):
        self.components = components
        self.prefix = prefix
        self.structs: dict[str, type] = {}
        self.building: set[str] = set()

    def type_of(self, schema: dict[str, Any]) -> Any:
        name, schema = _resolve(self.components, schema)
        kind = schema.get("type")
        if kind == "object" or (kind is None and "properties" in schema):
            _check_keys(schema, {"type", "properties", "required"})
            return self.struct(name, schema)
        if kind == "array":
            _check_keys(schema, {"type", "items", "minItems", "maxItems"})
            if "items" not in schema:
                raise Unsupported("array without items")
            item = self.type_of(schema["items"])
            meta = {}
            if schema.get("minItems"):
                meta["min_length"] = schema["minItems"]
            if "maxItems" in schema:
                meta["max_length"] = schema["maxItems"]
            return Annotated[list[item], msgspec.Meta(**meta)] if meta else list[item]
        if kind == "string":
            _check_keys(schema, {"type", "enum", "minLength", "maxLength", "format"})
            fmt = schema.get("format")
            if fmt is not None and fmt not in FORMATS:
                raise Unsupported(f"format {fmt}")
            if "enum" in schema:
                members = tuple(v for v in schema["enum"] if _string_ok(v, schema))
                if not members:
                    raise Unsupported("enum without a valid member")
                return Literal[members]
            if fmt == "date":
                if {"minLength", "maxLength"} & set(schema):
                    raise Unsupported("a date with a length")
                return datetime.date
            meta = {}
            if schema.get("minLength"):
                meta["min_length"] = schema["minLength"]
            if "maxLength" in schema:
                meta["max_length"] = schema["maxLength"]
            if fmt is not None:
                meta["pattern"] = FORMATS[fmt]
            return Annotated[str, msgspec.Meta(**meta)] if meta else str
        if kind == "integer" and "enum" in schema:
            _check_keys(schema, {"type", "enum"})
            members = tuple(v for v in schema["enum"] if type(v) is int)
            if not members:
                raise Unsupported("enum without a valid member")
            return Literal[members]
        raise Unsupported(f"type {kind!r}")

    def struct(self, name: str | None, schema: dict[str, Any]) -> type:
        if name is not None and name in self.structs:
            return self.structs[name]
        if name is not None and name in self.building:
            raise Unsupported(f"recursive schema {name}")
        if name is not None:
            self.building.add(name)
        required = set(schema.get("required", ()))
        properties = schema.get("properties", {})
        if required - set(properties):
            raise Unsupported("a required field without a property")  # cannot be met by a Struct field
        fields = []
        for field, sub in sorted(properties.items()):  # in name order: encoded in the canonical order as they are
            if not field.isidentifier() or keyword.iskeyword(field) or field.startswith("_"):
                raise Unsupported(f"property name {field!r}")
            typ = self.type_of(sub)
            if field in required:
                fields.append((field, typ))
            else:
                fields.append((field, typ | msgspec.UnsetType, msgspec.UNSET))
        struct = msgspec.defstruct(
            f"{self.prefix}{name or 'Anonymous'}",
            fields,
            kw_only=True,
            forbid_unknown_fields=True,
            gc=False,  # no cycles: strings, lists and other such Structs only
        )
        if name is not None:
            self.building.discard(name)
            self.structs[name] = struct
        return struct


def struct_for(components: dict[str, Any], name: str, prefix: str = "") -> type:
    """The msgspec Struct for the component schema ``name`` (see the module's note); raises
    ``Unsupported`` when a part of it cannot be translated to a subset of its JSON Schema."""
    return _Builder(components, prefix).type_of({"$ref": f"#/components/schemas/{name}"})


def canonical(value: Any) -> bytes:
    """A decoded body in the canonical form of the ingest paths: compact JSON, keys sorted, the
    same bytes as ``orjson.dumps(body, option=OPT_SORT_KEYS)`` of the same body as builtins.
    The Structs declare their fields in name order, so encoding them in declaration order (half
    the cost of msgspec's ``order="sorted"``) already sorts the keys."""
    return _ENCODER.encode(value)


_ENCODER = msgspec.json.Encoder()
