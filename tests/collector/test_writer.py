"""The batch writer never dies on data: rows the database refuses go to the dead letters, the rest is stored."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

from collector.core.domain import SpanRecord
from collector.core.storage.failures import is_transient
from tests.collector.writer_harness import scalar, write_through_spool


def span(number: int, **fields: Any) -> SpanRecord:
    """A valid span record; ``fields`` override what a test breaks."""
    record = SpanRecord(
        trace_id=number.to_bytes(16, "big"),
        span_id=number.to_bytes(8, "big"),
        parent_span_id=None,
        name="predict",
        kind=1,
        service_name="svc",
        model_name="m",
        model_version="1",
        operation="predict",
        provider=None,
        hardware_class="cpu",
        start_unix_nano=1_000 + number,
        end_unix_nano=2_000 + number,
        status_code=0,
        error_type=None,
        input_tokens=None,
        output_tokens=None,
        is_inference=True,
        raw=None,
    )
    return record._replace(**fields)


def test_refused_rows_are_dead_lettered_and_the_rest_stored(migrated_db_url: str, tmp_path: Path) -> None:
    """Rows past what the columns hold (65-bit tokens, a status the CHECK refuses) are isolated from their batch."""
    good = [span(number) for number in range(1, 41)]
    bad = [
        span(100, input_tokens=2**64),
        span(101, status_code=7),
        span(102, start_unix_nano=2**63, end_unix_nano=2**63),
    ]
    batch = good[:20] + bad + good[20:]
    reports = write_through_spool(migrated_db_url, tmp_path / "spool", [("spans", batch)])
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM spans") == len(good)
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM dead_letters WHERE kind = 'spans'") == len(bad)
    (committed,) = [report for report in reports if "committed" in report]
    assert committed["rows"] == {"spans": len(good)}
    assert committed["dead_lettered"] == {"spans": len(bad)}
    payload = scalar(migrated_db_url, "SELECT payload FROM dead_letters ORDER BY id LIMIT 1")
    assert pickle.loads(bytes(payload))[0] == bad[0].trace_id
    reason = scalar(migrated_db_url, "SELECT reason FROM dead_letters ORDER BY id LIMIT 1")
    assert "int" in reason.lower() or "range" in reason.lower()


def test_a_later_batch_is_stored_after_a_refused_one(migrated_db_url: str, tmp_path: Path) -> None:
    """The writer goes on past a refused batch: what was queued behind it is stored."""
    batches = [("spans", [span(1, input_tokens=2**70)]), ("spans", [span(2)]), ("spans", [span(3)])]
    write_through_spool(migrated_db_url, tmp_path / "spool", batches)  # type: ignore[arg-type]
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM spans") == 2
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM dead_letters") == 1


def test_an_unreadable_spool_record_is_set_aside(migrated_db_url: str, tmp_path: Path) -> None:
    """A spool record this code cannot decode goes to the dead letters as raw bytes; the rest is written."""
    from collector.ingest.spool import Spool

    spool = Spool(tmp_path / "spool", max_bytes=1 << 20).open()
    spool.append(b"not a pickle")
    spool.close()
    write_through_spool(migrated_db_url, tmp_path / "spool", [("spans", [span(1)])])
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM spans") == 1
    assert scalar(migrated_db_url, "SELECT kind FROM dead_letters") == "spool"


def test_outages_are_transient_and_data_errors_are_not() -> None:
    """Overflow in the driver is about the row; a Python error outside any driver never reads as an outage."""
    assert not is_transient(OverflowError("Python int too large to convert to SQLite INTEGER"))
    assert not is_transient(ValueError("x"))


def test_outcomes_for_unknown_predictions_are_counted(migrated_db_url: str, tmp_path: Path) -> None:
    """An outcome naming a prediction that is not stored is kept (it may come first) and counted."""
    from collector.ingest.native_decode import decode_log_outcomes, decode_log_predictions
    from inferwatch.v1 import common_pb2, prediction_service_pb2

    prediction = prediction_service_pb2.Prediction(prediction_id="known", model=common_pb2.ModelRef(name="m"))
    predictions = decode_log_predictions(prediction_service_pb2.LogPredictionsRequest(predictions=[prediction]), 1)
    outcomes = decode_log_outcomes(
        prediction_service_pb2.LogOutcomesRequest(
            outcomes=[
                prediction_service_pb2.Outcome(prediction_id=name, actual=common_pb2.Output(label="yes"))
                for name in ("known", "ghost-1", "ghost-2")
            ]
        ),
        1,
    )
    reports = write_through_spool(
        migrated_db_url,
        tmp_path / "spool",
        [("predictions", predictions.records), ("outcomes", outcomes.records)],
    )
    assert sum(int(report.get("unmatched_outcomes", 0)) for report in reports) == 2
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM outcomes") == 3


def test_large_batches_with_refused_rows_are_isolated_too(migrated_db_url: str, tmp_path: Path) -> None:
    """A batch big enough for PostgreSQL's COPY path is refused as a whole, then isolated row by row."""
    good = [span(number) for number in range(1, 301)]
    batch = [*good[:150], span(1000, input_tokens=2**64), *good[150:]]
    reports = write_through_spool(migrated_db_url, tmp_path / "spool", [("spans", batch)])
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM spans") == len(good)
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM dead_letters WHERE kind = 'spans'") == 1
    (committed,) = [report for report in reports if "committed" in report]
    assert committed["rows"] == {"spans": len(good)}


def test_large_batches_store_every_value_exactly_once(migrated_db_url: str, tmp_path: Path) -> None:
    """Text that COPY must escape, every byte value, missing values, and replays inside and across batches."""
    awkward = "tab\there\nnewline \\N back\\slash \r ünï €"
    records = [
        span(
            number,
            name=f"{awkward} {number}",
            error_type=None if number % 2 else awkward,
            input_tokens=None if number % 3 else number,
            raw=bytes(range(256)) + number.to_bytes(4, "big"),
            parent_span_id=None if number % 5 else (number + 7).to_bytes(8, "big"),
        )
        for number in range(1, 201)
    ]
    # The first batch holds every record twice; the second replays half of them, as after a crash.
    batches = [("spans", records + records), ("spans", records[:100])]
    write_through_spool(migrated_db_url, tmp_path / "spool", batches)  # type: ignore[arg-type]
    assert scalar(migrated_db_url, "SELECT COUNT(*) FROM spans") == len(records)
    for record in (records[0], records[1], records[199]):
        assert scalar(migrated_db_url, "SELECT name FROM spans WHERE span_id = :id", id=record.span_id) == record.name
        assert (
            bytes(scalar(migrated_db_url, "SELECT raw FROM spans WHERE span_id = :id", id=record.span_id)) == record.raw
        )
        stored_error = scalar(migrated_db_url, "SELECT error_type FROM spans WHERE span_id = :id", id=record.span_id)
        assert stored_error == record.error_type
        tokens = scalar(migrated_db_url, "SELECT input_tokens FROM spans WHERE span_id = :id", id=record.span_id)
        assert tokens == record.input_tokens
