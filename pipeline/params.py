"""Building blocks of the params.yaml models (pydantic v2) and the one-line error users see.

Every section is a `Section`: unknown keys are errors, types are strict (`epochs: true` or
`epochs: 2.5` is not an integer; a float field takes an int and gives a float). The helpers
below add the bounds and reword pydantic's errors so that each names what is allowed in
plain words; `params_error` turns a ValidationError into the project's ParamsError naming the
full dotted key (`datasets.stock.window`, `signals.noises[1].rate`). Torch-free: every stage
validates params at start-up.
"""
from __future__ import annotations

import types
from typing import Annotated, Any, Callable, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, WrapValidator, model_serializer
from pydantic_core import PydanticCustomError
from typing_extensions import is_typeddict

from .errors import ParamsError

STRICT = ConfigDict(extra="forbid", strict=True)


def key_order(model: type[BaseModel]) -> list[str]:
    """A model's keys in the order users write them: its own before those it inherits (pydantic
    puts inherited fields first), so `dataset, window, ...` come before the shared training keys."""
    own = [name for name in model.__annotations__ if name in model.model_fields]
    return [*own, *(name for name in model.model_fields if name not in own)]


class Section(BaseModel):
    """A params.yaml mapping: every field required; unknown keys are errors."""

    model_config = STRICT

    @model_serializer(mode="wrap")
    def _in_key_order(self, handler: Callable[[Any], dict]) -> dict:
        # validated params keep the order of params.yaml (and of the schema before pydantic)
        data = handler(self)
        return {name: data[name] for name in key_order(type(self))}


def problem(text: str, at: str = "") -> PydanticCustomError:
    """An error whose message is `text` as is; `at` extends the key ("split", "[2]") when a
    rule of a whole mapping or list is about one of its keys or items."""
    return PydanticCustomError("params", "{text}", {"text": text, "at": at})


def _got(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _range(ge: float | None, le: float | None, gt: float | None, lt: float | None = None) -> str:
    low = f">= {ge:g}" if ge is not None else f"> {gt:g}" if gt is not None else None
    high = f"<= {le:g}" if le is not None else f"< {lt:g}" if lt is not None else None
    parts = [p for p in (low, high) if p]
    return f" {' and '.join(parts)}" if parts else ""


_OUT_OF_RANGE = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _number(kind: type, ge, le, gt, lt=None) -> Any:
    rule = _range(ge, le, gt, lt)
    what = "an integer" if kind is int else "a number"

    def reword(value: Any, handler: Callable[[Any], Any]) -> Any:
        try:
            return handler(value)
        except ValidationError as err:
            cause = err.errors()[0]["type"]
            if cause in _OUT_OF_RANGE:
                raise problem(f"{value!r} is out of range; allowed{rule}") from None
            if cause == "finite_number":
                raise problem(f"expected a finite number{rule}, got {value!r}") from None
            raise problem(f"expected {what}{rule}, got {_got(value)}") from None

    limits = Field(ge=ge, le=le, gt=gt) if kind is int else Field(ge=ge, le=le, gt=gt, lt=lt, allow_inf_nan=False)
    return Annotated[kind, limits, WrapValidator(reword)]


def Int(ge: int | None = None, le: int | None = None) -> Any:
    """An integer (not a bool) within [ge, le]."""
    return _number(int, ge, le, None)


def Float(ge: float | None = None, le: float | None = None, gt: float | None = None,
          lt: float | None = None) -> Any:
    """A finite float (an int is taken and made a float) within the bounds given."""
    return _number(float, ge, le, gt, lt)


def _text(value: Any, handler: Callable[[Any], Any], choices: tuple[str, ...] = ()) -> Any:
    if not isinstance(value, str) or not value:
        raise problem(f"expected a non-empty string, got {_got(value)}")
    try:
        return handler(value)
    except ValidationError:
        raise problem(f"{value!r} is not allowed; choose one of: {', '.join(choices)}") from None


Text = Annotated[str, WrapValidator(_text)]
"""A non-empty string."""


def Choice(*choices: str) -> Any:
    """One of the given strings."""
    return Annotated[Literal[choices], WrapValidator(lambda v, handler: _text(v, handler, choices))]


def Items(item: Any, min_len: int = 1, max_len: int | None = None, unique: Callable[[Any], Any] | None = None,
          what: str = "item") -> Any:
    """A list of `item`s; with `unique`, no two items may have the same unique(item)."""

    def distinct(items: list) -> list:
        seen = set()
        for i, value in enumerate(items):
            marker = unique(value)
            if marker in seen:
                raise problem(f"duplicate {what} {marker!r}", at=f"[{i}]")
            seen.add(marker)
        return items

    checks = [AfterValidator(distinct)] if unique else []
    return Annotated[list[item], Field(min_length=min_len, max_length=max_len), *checks]


# --- ValidationError -> ParamsError ---------------------------------------------------
# The one union in params.yaml is a noise, picked by its `kind` key (pipeline/config.py).
TAG = "kind"


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _fields(tp: Any) -> dict[str, Any]:
    """name -> type of a model's or a TypedDict's keys, in key_order."""
    if is_typeddict(tp):
        return dict(tp.__annotations__)
    return {name: tp.model_fields[name].annotation for name in key_order(tp)}


def _join(key: str, part: str) -> str:
    return f"{key}{part}" if not key or not part or part.startswith("[") else f"{key}.{part}"


def _walk(root: type, loc: tuple) -> tuple[str, Any]:
    """The dotted key of pydantic's error location, and the type of the mapping that holds its
    last part. A discriminated union adds its tag to the location (`noises, 1, spikes, rate`);
    the tag names no key in the file, so it is left out of the key."""
    key, tp, parent = "", root, None
    for part in loc:
        tp = _unwrap(tp)
        if get_origin(tp) in (Union, types.UnionType):  # the part is the tag: step into the member it picked
            tp = next(m for m in get_args(tp) if get_args(_unwrap(_fields(m)[TAG])) == (part,))
            continue
        if isinstance(part, int):
            key, tp = _join(key, f"[{part}]"), get_args(tp)[0]
        else:
            parent = tp
            key, tp = _join(key, part), _fields(tp).get(part)
    return key, parent


def _words(error: dict, holder: Any) -> str:
    kind, ctx, value = error["type"], error.get("ctx", {}), error["input"]
    if kind == "params":
        return ctx["text"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        if is_typeddict(holder):  # a mapping of named sections (`train:`); its title says what they are
            noun = holder.__pydantic_config__.get("title", "name")
            return f"unknown {noun} {error['loc'][-1]!r}; known {noun}s: {', '.join(holder.__annotations__)}"
        return f"unknown key; allowed keys here: {', '.join(_fields(holder))}"
    if kind in ("model_type", "model_attributes_type", "dict_type", "typed_dict_type"):
        return f"expected a mapping, got {_got(value)}"
    if kind == "bool_type":
        return f"expected true or false, got {_got(value)}"
    if kind == "list_type":
        return f"expected a list, got {_got(value)}"
    if kind == "too_short":
        return f"expected at least {ctx['min_length']} item(s), got {ctx['actual_length']}"
    if kind == "too_long":
        return f"expected at most {ctx['max_length']} item(s), got {ctx['actual_length']}"
    return error["msg"]  # a kind this schema does not produce today: pydantic's own words


def params_error(err: ValidationError, root: type) -> ParamsError:
    """The first problem as one ParamsError. Unknown keys come first: a misspelt key also reads as
    a missing one, and its name is the better clue."""
    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    first = errors[0]
    key, holder = _walk(root, first["loc"])
    key = _join(key, first.get("ctx", {}).get("at", ""))
    text = _words(first, holder)
    if first["type"] in ("union_tag_invalid", "union_tag_not_found"):  # the `kind` of a noise
        key, found = _join(key, TAG), first["ctx"].get("tag")
        text = (f"unknown kind {found!r}" if found is not None else "required key is missing") + \
            f"; choose one of: {_tags(root, first['loc'])}"
    return ParamsError(key or "<top level>", text)


def _tags(root: type, loc: tuple) -> str:
    """The tags of the union at `loc` (pydantic names them only when the tag is there but wrong)."""
    tp = root
    for part in loc:
        tp = _unwrap(tp)
        tp = get_args(tp)[0] if isinstance(part, int) else _fields(tp)[part]
    return ", ".join(get_args(_unwrap(_fields(m)[TAG]))[0] for m in get_args(_unwrap(tp)))
