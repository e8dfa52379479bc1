"""What the database will take: one table of column limits, shared by the decoders and the schema.

The decoders clamp or reject against these numbers and the tables declare their columns with them, so an
item that is acknowledged is an item the database accepts, on SQLite (which enforces almost nothing and
fails on integers past 64 bits) and on PostgreSQL (which enforces every width and range). A test checks
every limited column of the schema against this table.
"""

from __future__ import annotations

import re
from typing import Final

INT64_MAX: Final = 2**63 - 1
INT32_MAX: Final = 2**31 - 1

# Text columns, in characters (PostgreSQL's varchar(n) counts characters, as Python's len does).
SPAN_NAME_CHARS: Final = 512
SERVICE_NAME_CHARS: Final = 256
MODEL_NAME_CHARS: Final = 256
MODEL_VERSION_CHARS: Final = 128
OPERATION_CHARS: Final = 256
PROVIDER_CHARS: Final = 128
HARDWARE_CLASS_CHARS: Final = 64
ERROR_TYPE_CHARS: Final = 256
PREDICTION_ID_CHARS: Final = 128

# Integer nanoseconds since the epoch in a BIGINT: the last storable instant is 2262-04-11T23:47:16Z.
MAX_UNIX_NANO: Final = INT64_MAX
# Token counts are 32-bit columns; no single call has used two billion tokens, so a larger value is a bad
# client, clamped (and counted) rather than widened into every rollup sum.
MAX_TOKENS: Final = INT32_MAX
# OTLP SpanKind 0..5; the column is a SMALLINT and any other int32 an SDK sends means "unspecified".
SPAN_KINDS: Final = range(6)
# The serialized span kept for inspection; past this it is dropped (and counted), the columns are kept.
DEFAULT_MAX_RAW_SPAN_BYTES: Final = 64 * 1024
# The spool backlog past which export answers wait for the writer (collector.ingest.pacing).
DEFAULT_PACE_ABOVE_BYTES: Final = 32 * 1024 * 1024

_NUL = "\x00"
# A JSON \u0000 escape that is not itself an escaped backslash followed by "u0000".
_JSON_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def clamp_text(value: str, limit: int) -> tuple[str, bool]:
    """``value`` cut to ``limit`` characters with NUL characters replaced (PostgreSQL text cannot hold
    them); the flag says whether anything changed."""
    changed = False
    if _NUL in value:
        value = value.replace(_NUL, "\ufffd")
        changed = True
    if len(value) > limit:
        value = value[:limit]
        changed = True
    return value, changed


def json_without_nul(text: str) -> str:
    """JSON text with every ``\\u0000`` escape replaced by U+FFFD: PostgreSQL's JSONB refuses the NUL escape."""
    if "\\u0000" not in text:
        return text
    return _JSON_NUL.sub(lambda match: match.group(1) + "\\ufffd", text)
