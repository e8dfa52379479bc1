"""OTLP JSON into protobuf messages, filled in place from per-message plans made once.

protobuf's ``json_format.ParseDict`` looks every field up by reflection and copies each sub-message into its
parent, all in Python: about 2,000 spans/s through the whole service, a tenth of the protobuf encoding. Here
each message type gets a plan once (JSON key to field and converter), and a document is written straight
into the message it becomes (``add()`` for repeated messages, ``getattr`` for nested ones), so the per-field
work is a dictionary lookup and one assignment.

It follows the proto3 JSON mapping as OTLP uses it (opentelemetry-proto ``docs/specification.md``, "JSON
Protobuf Encoding"): lowerCamelCase keys (the proto names are accepted too); trace and span ids as hex, other
bytes as base64; enums as integers (names accepted); 64-bit integers as strings or numbers; doubles as numbers
or ``"NaN"``, ``"Infinity"``, ``"-Infinity"``; ``null`` as absent; unknown keys ignored. A value of the
wrong type is an ``OtlpJsonError`` naming its path (``$.resourceSpans[0].scopeSpans[0].spans[3].kind``).
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

# OTLP JSON carries these ids as hex, where the proto3 JSON mapping would use base64.
HEX_ID_FIELDS: Final = frozenset(("trace_id", "span_id", "parent_span_id"))
_INT32_RANGE: Final = (-(2**31), 2**31 - 1)
_UINT32_RANGE: Final = (0, 2**32 - 1)
_INT64_RANGE: Final = (-(2**63), 2**63 - 1)
_UINT64_RANGE: Final = (0, 2**64 - 1)
KEY_VALUE: Final = "opentelemetry.proto.common.v1.KeyValue"
_SPECIAL_DOUBLES: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class OtlpJsonError(ValueError):
    """A document that is not the OTLP JSON of the message it was read as; the text names where."""


AnyMessage = TypeVar("AnyMessage", bound=Message)
Convert = Callable[[Any, Any], Any]


@dataclass(frozen=True)
class _FieldPlan:
    name: str
    repeated: bool
    # For a message field: the plan of its type; None for scalars, enums and bytes.
    message: _MessagePlan | None
    # For a scalar field: JSON value and path to the Python value protobuf takes.
    convert: Convert | None


@dataclass(frozen=True)
class _MessagePlan:
    full_name: str
    fields: dict[str, _FieldPlan]


_plans: dict[str, _MessagePlan] = {}


# Where a value sits, built only when an error names it: "$", or (parent, key) or (parent, key, index).
Where = str | tuple[Any, ...]


def parse(document: dict[str, Any], message: AnyMessage) -> AnyMessage:
    """Fill ``message`` (empty) from the OTLP JSON ``document`` and return it; OtlpJsonError when it does not fit."""
    descriptor: Any = message.DESCRIPTOR
    _fill(message, document, _plan(descriptor), "$")
    return message


def path(where: Where) -> str:
    """``$.resourceSpans[0].scopeSpans`` for ``((("$", "resourceSpans", 0), "scopeSpans")``."""
    if isinstance(where, str):
        return where
    if len(where) == 3:
        return f"{path(where[0])}.{where[1]}[{where[2]}]"
    return f"{path(where[0])}.{where[1]}"


def _fill(message: Message, document: Any, plan: _MessagePlan, where: Where) -> None:
    if not isinstance(document, dict):
        raise OtlpJsonError(f"{path(where)} must be an object ({plan.full_name}), got {_kind(document)}")
    fields = plan.fields
    for key, value in document.items():
        field = fields.get(key)
        if field is None or value is None:
            continue  # unknown keys are ignored; null means absent
        if field.repeated:
            if not isinstance(value, list):
                raise OtlpJsonError(f"{path((where, key))} must be a list, got {_kind(value)}")
            target = getattr(message, field.name)
            if field.message is not None:
                item_plan = field.message
                if item_plan.full_name == KEY_VALUE:
                    _fill_key_values(target, value, item_plan, (where, key))
                else:
                    for index, item in enumerate(value):
                        _fill(target.add(), item, item_plan, (where, key, index))
            else:
                assert field.convert is not None
                convert = field.convert
                target.extend([convert(item, (where, key, index)) for index, item in enumerate(value)])
        elif field.message is not None:
            child = getattr(message, field.name)
            if not value:
                child.SetInParent()  # an empty object still sets the field (and a oneof's choice)
            _fill(child, value, field.message, (where, key))
        else:
            assert field.convert is not None
            setattr(message, field.name, field.convert(value, (where, key)))


def _fill_key_values(target: Any, items: list[Any], plan: _MessagePlan, where: tuple[Any, str]) -> None:
    """Attributes, the bulk of every span and log record: ``{"key": k, "value": {"stringValue": v}}`` (or
    another scalar) is written without the two general ``_fill`` calls; anything else goes through them."""
    value_plan = plan.fields["value"].message
    assert value_plan is not None
    scalars = value_plan.fields
    for index, item in enumerate(items):
        if type(item) is dict and len(item) == 2:
            key = item.get("key")
            value = item.get("value")
            if type(key) is str and type(value) is dict and len(value) == 1:
                ((kind, scalar),) = value.items()
                field = scalars.get(kind)
                if field is not None and field.convert is not None and scalar is not None:
                    attribute = target.add()
                    attribute.key = key
                    setattr(attribute.value, field.name, field.convert(scalar, (((*where, index), "value"), kind)))
                    continue
        _fill(target.add(), item, plan, (*where, index))


def _plan(descriptor: Descriptor) -> _MessagePlan:
    plan = _plans.get(descriptor.full_name)
    if plan is not None:
        return plan
    fields: dict[str, _FieldPlan] = {}
    # Registered before its fields are planned, so recursive types (AnyValue in ArrayValue) find it.
    plan = _plans[descriptor.full_name] = _MessagePlan(descriptor.full_name, fields)
    for field in descriptor.fields:
        repeated = bool(field.is_repeated)
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            message_type = field.message_type
            assert message_type is not None
            if message_type.GetOptions().map_entry:
                raise TypeError(f"{descriptor.full_name}.{field.name}: map fields are not in OTLP")
            field_plan = _FieldPlan(field.name, repeated, _plan(message_type), None)
        else:
            field_plan = _FieldPlan(field.name, repeated, None, _scalar(field))
        fields[field.json_name] = fields[field.name] = field_plan
    return plan


def _scalar(field: FieldDescriptor) -> Convert:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _string
    if kind == FieldDescriptor.TYPE_BOOL:
        return _bool
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _double
    if kind == FieldDescriptor.TYPE_BYTES:
        return _hex if field.name in HEX_ID_FIELDS else _base64
    if kind == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return _enum(field.enum_type)
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return _integer(_INT64_RANGE)
    if kind in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return _integer(_UINT64_RANGE)
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return _integer(_UINT32_RANGE)
    return _integer(_INT32_RANGE)


def _string(value: Any, where: Where) -> str:
    if not isinstance(value, str):
        raise OtlpJsonError(f"{path(where)} must be a string, got {_kind(value)}")
    return value


def _bool(value: Any, where: Where) -> bool:
    if not isinstance(value, bool):
        raise OtlpJsonError(f"{path(where)} must be true or false, got {_kind(value)}")
    return value


def _double(value: Any, where: Where) -> float:
    if isinstance(value, bool):
        raise OtlpJsonError(f"{path(where)} must be a number, got a boolean")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise OtlpJsonError(f'{path(where)} must be a number (or "NaN", "Infinity", "-Infinity"), got {_kind(value)}')


def _integer(bounds: tuple[int, int]) -> Convert:
    low, high = bounds

    def convert(value: Any, where: Where) -> int:
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value)
            except ValueError:
                try:  # "1e3" is an integer in JSON's sense
                    as_float = float(value)
                except ValueError:
                    as_float = math.nan
                number = int(as_float) if as_float.is_integer() else None
        if number is None:
            raise OtlpJsonError(f"{path(where)} must be an integer, got {_kind(value)}")
        if not low <= number <= high:
            raise OtlpJsonError(f"{path(where)} is out of range: {value!r}")
        return number

    return convert


def _enum(descriptor: EnumDescriptor) -> Convert:
    by_name: dict[str, int] = {value.name: value.number for value in descriptor.values}
    to_int = _integer(_INT32_RANGE)

    def convert(value: Any, where: Where) -> int:
        number = by_name.get(value) if isinstance(value, str) else None
        # Unknown numbers are kept, as proto3 open enums are; unknown names are not numbers at all.
        return number if number is not None else int(to_int(value, where))

    return convert


def _hex(value: Any, where: Where) -> bytes:
    if not isinstance(value, str):
        raise OtlpJsonError(f"{path(where)} must be a hex string, got {_kind(value)}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise OtlpJsonError(f"{path(where)} must be a hex string, got {value[:40]!r}") from None


def _base64(value: Any, where: Where) -> bytes:
    if not isinstance(value, str):
        raise OtlpJsonError(f"{path(where)} must be a base64 string, got {_kind(value)}")
    # The JSON mapping accepts standard and URL-safe alphabets, with or without padding.
    text = value.replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        raise OtlpJsonError(f"{path(where)} must be a base64 string, got {value[:40]!r}") from None


def _kind(value: Any) -> str:
    """How an error names a JSON value: its JSON type and a short excerpt."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"
