"""JSON request bodies the database can store: no non-finite numbers (`1e309` parses to Infinity,
which the database stores and the API can then no longer write back as JSON: a 500 on every read),
and no text PostgreSQL refuses (a NUL character, half of a surrogate pair)."""

import json
import math

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _no_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _storable_text(value, path: str = "") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _storable_text(key, path)
            _storable_text(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _storable_text(item, f"{path}[{index}]")
    elif isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path or 'the body'} contains a NUL character (\\u0000), which cannot be stored")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{path or 'the body'} contains half of a surrogate pair, which is not text") from None


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(stream.read().decode(encoding), parse_float=_finite, parse_constant=_no_constant)
            _storable_text(data)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
