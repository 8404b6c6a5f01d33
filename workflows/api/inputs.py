"""Request bodies and query strings checked by their input serializers, every problem at once.

DRF's fields coerce: a CharField takes the number 5 as "5", an IntegerField the string "3", a
BooleanField the string "yes". So a body is first checked for JSON types against the serializer's
fields, and a wrong type is named instead of converted. A field the serializer does not know is
refused by name: a typo would otherwise be dropped and the request half-applied."""

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from workflows.errors import ValidationFailed

OBJECT_BODY = "The request body must be a JSON object."

# The JSON type each kind of field reads; the first match wins (a BooleanField is no IntegerField,
# but bool is an int in Python, so booleans are told apart below).
_JSON_TYPES: tuple[tuple[type, tuple[type, ...], str], ...] = (
    (serializers.BooleanField, (bool,), "true or false"),
    (serializers.IntegerField, (int,), "an integer"),
    (serializers.FloatField, (int, float), "a number"),
    (serializers.DecimalField, (int, float), "a number"),
    (serializers.CharField, (str,), "a string"),
    (serializers.UUIDField, (str,), "a string (a UUID)"),
    (serializers.DateTimeField, (str,), "a string (an ISO 8601 time)"),
    (serializers.DictField, (dict,), "an object"),
    (serializers.ListField, (list,), "a list"),
    (serializers.ListSerializer, (list,), "a list"),
    (serializers.Serializer, (dict,), "an object"),
)


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def flatten(detail: Any, path: str = "") -> list[dict]:
    """DRF's nested errors ({"graph": {"nodes": [{}, {"id": [...]}]}}) as dotted paths (graph.nodes.1.id)."""
    if isinstance(detail, Mapping):
        return [
            problem
            for key, value in detail.items()
            for problem in flatten(value, path if key in ("non_field_errors", "__all__") else _join(path, key))
        ]
    if isinstance(detail, list):
        if all(isinstance(item, (str, serializers.ErrorDetail)) for item in detail):
            return [{"path": path, "message": str(item)} for item in detail]
        # A list of per-item errors: an item without problems is an empty dict.
        return [problem for index, item in enumerate(detail) if item for problem in flatten(item, _join(path, index))]
    return [{"path": path, "message": str(detail)}]


def _type_problems(field: serializers.Field, value: Any, path: str) -> list[dict]:
    """Wrong JSON types and unknown keys, at any depth of nested serializers, lists and objects."""
    if value is None:
        return [] if field.allow_null else [{"path": path, "message": "This field may not be null."}]
    for kind, types, name in _JSON_TYPES:
        if isinstance(field, kind):
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                return [{"path": path, "message": f"Expected {name}, got {_json_type(value)}."}]
            break
    if isinstance(field, serializers.ListSerializer):
        return [p for i, item in enumerate(value) for p in _type_problems(field.child, item, _join(path, i))]
    if isinstance(field, serializers.Serializer):
        return _object_problems(field, value, path)
    if isinstance(field, serializers.ListField):
        return [p for i, item in enumerate(value) for p in _type_problems(field.child, item, _join(path, i))]
    if isinstance(field, serializers.DictField):
        return [p for key, item in value.items() for p in _type_problems(field.child, item, _join(path, key))]
    return []


def _object_problems(serializer: serializers.Serializer, data: dict, path: str = "") -> list[dict]:
    fields = {name: f for name, f in serializer.fields.items() if not f.read_only}
    problems = [
        {"path": _join(path, key), "message": f"Unknown field; the fields are {', '.join(sorted(fields))}."}
        for key in sorted(set(data) - set(fields), key=str)
    ]
    return problems + [
        p for name, f in fields.items() if name in data for p in _type_problems(f, data[name], _join(path, name))
    ]


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _related(path: str, refused: str) -> bool:
    return path == refused or path.startswith(refused + ".") or refused.startswith(path + ".") or path == ""


def parse(
    serializer_class: type[serializers.Serializer], source: Request | Any, *, partial: bool = False, **context
) -> dict:
    """The body (a Request's, or data as given) validated by `serializer_class`; a ValidationFailed
    with every problem, each at its dotted path, otherwise. Only the fields sent are in the result
    (and those with a default), so services can tell "left out" from "set"."""
    data = source.data if isinstance(source, Request) else source
    if not isinstance(data, Mapping):
        raise ValidationFailed(OBJECT_BODY, path="")
    serializer = serializer_class(data=data, partial=partial, context=context)
    problems = _object_problems(serializer, dict(data))
    if not serializer.is_valid():
        # A value refused for its type is named once, by the type check: DRF's coerced reading of
        # it, there or in what holds it, would be a second, misleading problem.
        refused = [p["path"] for p in problems]
        problems += [p for p in flatten(serializer.errors) if not any(_related(p["path"], r) for r in refused)]
    if problems:
        raise ValidationFailed(problems)
    return dict(serializer.validated_data)


def parse_query(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    """Query parameters validated by `serializer_class` (they are text: no JSON type check; an empty
    one is left out); parameters it does not name are the view's (the cursor, `meta.*` filters)."""
    params = request.query_params
    known = {name: params[name] for name in serializer_class().fields if params.get(name, "") != ""}  # "": not given
    serializer = serializer_class(data=known)
    if not serializer.is_valid():
        raise ValidationFailed(flatten(serializer.errors))
    return {k: v for k, v in serializer.validated_data.items() if v is not None}
