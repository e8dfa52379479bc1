"""The README's quick start, run as written: its commands, in order, against a real `inferwatch serve`.

The commands are parsed from the fenced blocks under "## Quick start" in README.md, with the documented
ports replaced by the free ones the server bound, so a README edit that the product does not follow (or a
product change the README does not follow) fails here. Set-up lines (`python3 -m venv`, `activate`) are
what this test's own environment already is; `pip install` lines are checked by asking that environment
whether each named distribution is installed.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.process_harness import read_until

README = Path(__file__).resolve().parents[2] / "README.md"
BIN = Path(sys.executable).parent
SERVING = re.compile(r"gRPC on 127\.0\.0\.1:(\d+), HTTP on 127\.0\.0\.1:(\d+), OTLP/HTTP on 127\.0\.0\.1:(\d+)")
DOCUMENTED_PORT = re.compile(r"\b(localhost|127\.0\.0\.1):(4317|4318|8080)\b")
# "command  # comment": a comment starts at " # " outside the command's quotes (the quick start has no
# "#" inside quotes; shlex.split checks that what is left is a whole command).
TRAILING_COMMENT = re.compile(r"^(?P<command>.*?)\s+#\s?(?P<comment>.*)$")
EXPECTED = "=>"


@dataclass(frozen=True)
class Step:
    """One command of the quick start: a shell line or a Python block, and the output the README shows."""

    language: str
    text: str
    expected: str | None = None


def quick_start_section(readme: str) -> str:
    """The text between "## Quick start" and the next second-level heading."""
    start = readme.index("\n## Quick start\n")
    end = readme.index("\n## ", start + 1)
    return readme[start:end]


def parse_steps(section: str) -> list[Step]:
    """Shell lines and Python blocks of the fenced blocks, in order; `# => TEXT` is the previous line's output."""
    steps: list[Step] = []
    for language, body in re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL):
        if language == "python":
            steps.append(Step("python", body))
            continue
        assert language == "sh", f"the quick start has a ```{language} block this test cannot run"
        for raw in body.splitlines():
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                comment = line.lstrip("#").strip()
                if comment.startswith(EXPECTED):
                    assert steps, "an expected output before any command"
                    last = steps[-1]
                    steps[-1] = Step(last.language, last.text, comment.removeprefix(EXPECTED).strip())
                continue
            expected = None
            if match := TRAILING_COMMENT.match(line):
                line = match["command"]
                if match["comment"].startswith(EXPECTED):
                    expected = match["comment"].removeprefix(EXPECTED).strip()
            shlex.split(line)  # balanced quotes: the comment split did not cut a command
            steps.append(Step("sh", line, expected))
    return steps


def check_installed(command: str) -> None:
    """`pip install A B`: each distribution is installed here (`.` is this checkout, inferwatch)."""
    for name in shlex.split(command)[2:]:
        if name.startswith("-"):
            continue
        distribution = "inferwatch" if name in (".", "-e") else name
        try:
            importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            pytest.fail(f"the quick start installs {name!r}, which is not a distribution this environment has")


def check_output(step: Step, stdout: str) -> None:
    """The output the README shows: JSON compared as JSON, else text that must appear in what was printed."""
    if step.expected is None:
        return
    try:
        shown = json.loads(step.expected)
    except json.JSONDecodeError:
        assert step.expected in stdout, f"{step.text!r} printed {stdout!r}, the README shows {step.expected!r}"
        return
    assert json.loads(stdout) == shown, f"{step.text!r} printed {stdout!r}, the README shows {step.expected!r}"


def require_tools(steps: list[Step]) -> None:
    """The programs the shell lines call (curl, grep) are here; outside CI a missing one skips, in CI it fails."""
    programs = {
        words[0]
        for step in steps
        if step.language == "sh"
        for command in re.split(r"&&|\|", step.text)
        if (words := shlex.split(command)) and words[0] not in ("inferwatch", "pip", "python3", ".", "source")
    }
    missing = sorted(program for program in programs if shutil.which(program) is None)
    if missing:
        message = f"the quick start needs {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def test_readme_quick_start_runs_as_written(tmp_path: Path) -> None:
    """Every command of the quick start, in order, against `inferwatch serve` started as the README says."""
    steps = parse_steps(quick_start_section(README.read_text()))
    require_tools(steps)
    env = {key: value for key, value in os.environ.items() if not key.startswith("INFERWATCH_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    server: subprocess.Popen[str] | None = None
    ports: dict[str, int] = {}
    ran: list[str] = []

    def substitute(text: str) -> str:
        assert ports, f"{text!r} comes before `inferwatch serve` in the quick start"
        return DOCUMENTED_PORT.sub(lambda match: f"{match[1]}:{ports[match[2]]}", text)

    try:
        for step in steps:
            if step.language == "python":
                script = tmp_path / "client.py"
                script.write_text(substitute(step.text))
                result = subprocess.run(
                    [sys.executable, str(script)],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                assert result.returncode == 0, f"the quick start's Python failed:\n{result.stderr}"
                ran.append("python")
                continue
            for part in (piece.strip() for piece in step.text.split("&&")):
                words = shlex.split(part)
                if words[:3] == ["python3", "-m", "venv"] or words[:1] in (["."], ["source"]):
                    continue  # this test already runs in a virtual environment
                if words[:2] == ["pip", "install"]:
                    check_installed(part)
                    ran.append(part)
                    continue
                if words[:2] == ["inferwatch", "serve"]:
                    free = [
                        "--grpc-addr",
                        "127.0.0.1:0",
                        "--otlp-http-addr",
                        "127.0.0.1:0",
                        "--http-addr",
                        "127.0.0.1:0",
                    ]
                    server = subprocess.Popen(
                        [str(BIN / "inferwatch"), *words[1:], *free],
                        cwd=tmp_path,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                    match = read_until(server, SERVING, timeout_s=60)
                    ports = {"4317": int(match[1]), "8080": int(match[2]), "4318": int(match[3])}
                    ran.append(part)
                    continue
                result = subprocess.run(
                    ["bash", "-c", substitute(part)],
                    cwd=tmp_path,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=60,
                    check=False,
                )
                assert result.returncode == 0, f"{part!r} exited {result.returncode}:\n{result.stdout}{result.stderr}"
                check_output(step, result.stdout)
                ran.append(part)
        assert server is not None, "the quick start never starts `inferwatch serve`"
        assert len(ran) >= 6, f"the quick start ran only {ran}"
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        if server is not None and server.poll() is None:
            server.kill()
            server.wait()


def test_the_parser_reads_commands_outputs_and_blocks() -> None:
    """Comments, `# =>` outputs on the line or under it, `&&` chains and Python blocks, as the README uses them."""
    section = (
        '## Quick start\n\n```sh\ncurl -s x   # => {"a": 1}\n# a remark\ninferwatch findings list\n'
        "# => no findings\n```\n\n```python\nprint(1)\n```\n"
    )
    assert parse_steps(section) == [
        Step("sh", "curl -s x", '{"a": 1}'),
        Step("sh", "inferwatch findings list", "no findings"),
        Step("python", "print(1)\n"),
    ]
