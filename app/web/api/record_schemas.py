"""The OpenAPI schema of a record's JSON (its ``as_dict``), derived from the record's dataclass:
every field and property it shows, under its JSON name, typed from its type hint. What a hint
cannot say (a description, a minimum, an enum, a key the record computes) comes from a small
table beside it, so a field added to a record reaches the schema by itself, and
tests/web/test_api_openapi.py fails when a record's ``as_dict`` and its schema disagree.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any


def json_schema(hint: Any, refs: Mapping[type, str]) -> dict[str, Any]:
    """The JSON Schema of a value of this type as ``as_dict`` writes it (a time as ISO-8601)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [a for a in args if a is not type(None)]
        schema = json_schema(inner, refs)
        if "$ref" in schema:
            return {"anyOf": [{"type": "null"}, schema]}
        return {**schema, "type": [schema["type"], "null"]}
    if typing.get_origin(hint) in (list, tuple):
        return {"type": "array", "items": json_schema(args[0], refs)}
    if hint in refs:
        return {"$ref": f"#/components/schemas/{refs[hint]}"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"type": "string", "enum": [member.value for member in hint]}
    if hint is datetime:
        return {"type": "string", "format": "date-time"}
    simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if hint in simple:
        return {"type": simple[hint]}
    raise TypeError(f"no JSON Schema for {hint!r}: hide the attribute or describe its key in full")


def attributes(record: type) -> dict[str, Any]:
    """The record's fields, then its properties, each with its type hint (a property's getter:
    its return type, read only when the property is shown)."""
    hints = typing.get_type_hints(record)
    found: dict[str, Any] = {f.name: hints[f.name] for f in dataclasses.fields(record)}
    for name, value in vars(record).items():
        if isinstance(value, property) and value.fget is not None:
            found[name] = value.fget
        elif isinstance(value, cached_property):
            found[name] = value.func
    return found


def record_schema(record: type, *, hidden: tuple[str, ...] = (), renamed: Mapping[str, str] | None = None,
                  notes: Mapping[str, Mapping[str, Any]] | None = None, optional: tuple[str, ...] = (),
                  refs: Mapping[type, str] | None = None) -> dict[str, Any]:
    """An object schema with one property per attribute of ``record`` that is not ``hidden``,
    named as ``renamed`` says (default: the attribute's name). ``notes`` adds to (or replaces
    the keywords of) a property, and describes in full a key the record has no attribute for.
    Every property is required but the ``optional`` ones."""
    renamed, notes, refs = renamed or {}, notes or {}, refs or {}
    properties: dict[str, Any] = {}
    fields = {f.name for f in dataclasses.fields(record)}
    for name, hint in attributes(record).items():
        if name in hidden or name.startswith("_"):
            continue
        if name not in fields:  # a property: its getter's return type
            hint = typing.get_type_hints(hint)["return"]
        properties[renamed.get(name, name)] = json_schema(hint, refs)
    for key, more in notes.items():
        properties[key] = {**properties.get(key, {}), **more}
    return {"type": "object", "required": [key for key in properties if key not in optional],
            "properties": properties}
