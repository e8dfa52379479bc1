"""The shadow runner's errors: each names what was wrong, so the CLI and the gRPC service can show it as is."""

from __future__ import annotations

from collector.core.errors import InferwatchError, UsageError


class ShadowError(InferwatchError):
    """Root of the errors a shadow run raises on purpose."""


class ArtifactNotFoundError(ShadowError, UsageError):
    """A model file (the baseline or a user-supplied variant) does not exist or is not a readable ONNX file."""


class InputSignatureMismatchError(ShadowError):
    """A variant's inputs differ from the baseline's (names, element types or ranks)."""


class NoRecordedInputsError(ShadowError):
    """There is nothing to replay: no stored raw inputs for the model version, or an empty input list."""


class InvalidTensorError(ShadowError):
    """Serialized raw inputs that cannot be decoded: unknown dtype, or a shape that does not fit the data."""


class ReplayError(ShadowError):
    """A model failed to load or to run on the replayed inputs."""


class NotApplicableError(ShadowError):
    """A variant family does not apply to this model (no MatMul chain to prune, no numeric input to learn
    from): the variant is skipped with this note, and the run goes on."""


class RunCancelledError(ShadowError):
    """The run was cancelled while it ran (CancelShadowRun): it stops at its next progress report."""


class RunStoppedError(ShadowError):
    """This replica no longer holds the run (released at a graceful stop, or taken over after its lease
    expired): it stops at its next progress report, and the replica that holds it now runs it."""


class ClusterUnavailableError(ShadowError):
    """``[shadow] executor = "ray"``, but the Ray cluster at ``ray_address`` cannot be joined."""
