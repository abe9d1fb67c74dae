"""Shared field types and the bridge from pydantic's errors to our Problems.

Models are declared with pydantic (types, constraints, unknown keys forbidden); this module
turns each of its errors into a one-line message an editor can act on, at the line and
column the YAML walker recorded for that field.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from typing import Annotated, Any, TypeVar, Union
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError

from newsletter.content import characters
from newsletter.content.yamlfile import Document, Path_, dotted
from newsletter.errors import Problem

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Base for every model read from a file: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def invalid(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose message is used as written (no template expansion)."""
    return PydanticCustomError(kind, "{message}", {"message": message})


def url_problem(value: str) -> str | None:
    """Why ``value`` is not a link we send to readers, or None when it is fine."""
    parts = urlsplit(value)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return f"must be an absolute http(s) URL, not {value[:60]!r}"
    if any(c.isspace() for c in value):
        return "URL must not contain spaces"
    return None


def _http_url(value: str) -> str:
    problem = url_problem(value)
    if problem:
        raise invalid("http_url", problem)
    return value


def _hex_colour(value: str) -> str:
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", value):
        raise invalid("colour", f"must be a colour like '#1a2b3c', not {value!r}")
    return value.lower()


def _one_line(value: str) -> str:
    problem = characters.problem(value)
    if problem:
        raise invalid("characters", problem)
    return value


def _prose(value: str) -> str:
    problem = characters.problem(value, multiline=True)
    if problem:
        raise invalid("characters", problem)
    return value


# One line of text (a subject, a headline, a name): no line breaks, nothing that cannot
# go in an email. Prose (Markdown bodies and teasers) may have line breaks.
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                 AfterValidator(_one_line)]
Prose = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1),
                  AfterValidator(_prose)]
Url = Annotated[Text, AfterValidator(_http_url)]
Colour = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_hex_colour)]


def validate(model: type[M], doc: Document) -> tuple[M | None, list[Problem]]:
    """Validate the document's data; every problem comes back, none is raised."""
    if doc.data is None:
        return None, []
    return validate_part(model, doc, (), doc.data)


def validate_part(model: type[M], doc: Document, at: Path_, data: Any
                  ) -> tuple[M | None, list[Problem]]:
    """Validate ``data``, the part of ``doc`` found at ``at`` (None: an empty mapping),
    with problems placed in the file as for a whole document."""
    try:
        return model.model_validate({} if data is None else data), []
    except ValidationError as exc:
        # A value the YAML layer already refused (a bad tag, say) is not reported twice.
        reported = {p.path for p in doc.problems if p.path}
        found = [_problem(model, doc, error, at) for error in exc.errors()]
        return None, [p for p in found if p.path not in reported]


def _problem(model: type[BaseModel], doc: Document, error: ErrorDetails,
             at: Path_ = ()) -> Problem:
    inner: Path_ = tuple(error["loc"])
    path: Path_ = (*at, *inner)
    kind = error["type"]
    if kind == "missing":
        # A missing key has no position of its own: point at the mapping that lacks it.
        line, column = doc.position(path[:-1])
        return Problem(doc.file, line, column, dotted(path), "required field is missing")
    if kind == "extra_forbidden":
        known = _field_names(model, inner[:-1])
        return doc.problem(path, _unknown_key(str(path[-1]), known), key=True)
    return doc.problem(path, _message(error))


def _unknown_key(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; expected one of: {', '.join(known)}"
    return f"unknown key {key!r}{hint}"


_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "text", type(None): "nothing"}


def _message(error: ErrorDetails) -> str:
    kind, got = error["type"], _TYPE_NAMES.get(type(error["input"]), "a value")
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "too_short":
        return f"needs at least {error['ctx']['min_length']} item(s)"
    if kind == "string_type":
        return f"expected text, got {got}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"expected a mapping of keys, got {got}"
    if kind == "list_type":
        return f"expected a list, got {got}"
    if kind.startswith("date"):
        return f"expected a date like 2024-07-23, not {error['input']!r}"
    return error["msg"][:1].lower() + error["msg"][1:]


def _field_names(model: type[BaseModel], path: Path_) -> list[str]:
    """Names accepted at ``path`` inside ``model`` (for "did you mean")."""
    current: Any = model
    for part in path:
        current = _inner_model(current, part)
        if current is None:
            return []
    return [info.alias or name for name, info in current.model_fields.items()]


def _inner_model(current: Any, part: str | int) -> Any:
    if isinstance(part, int):
        args = typing.get_args(current)
        return _unwrap(args[0]) if args else None
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return None
    for name, info in current.model_fields.items():
        if part in (name, info.alias):
            return _unwrap(info.annotation)
    return None


def _unwrap(annotation: Any) -> Any:
    """``Lead | None`` -> Lead; ``list[Item]`` stays as is for the index step."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        members = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(members[0]) if members else None
    return annotation
