"""The documentation cannot drift from the code: README.md and docs/*.md, read as a newcomer would.

Every ```bash, ```sh or ```console block either runs (an HTML comment right before its fence,
`<!-- runnable -->`, or `<!-- runnable: slow -->` for one that takes more than a few seconds;
only cheap commands that work on a bare checkout) or has its commands checked: each `--flag` of
a `pytest ...` or `mechtests SUBCOMMAND ...` line must appear in that command's `--help`, run once
in the repository root; other lines (pip, python, apt-get) must only be well-formed shell
(`bash -n`). A block that could run but must not says why: `<!-- not runnable: REASON -->`.
Inline commands in the prose (`pytest ...`, `mechtests ...`, `--mech-...`) are checked the same
way; an inline `mechtests.NAME` must import (or be a JUnit property the plugin writes), and an
inline path into the repository must exist (or be one git ignores: a run's output). Every
relative link points at a file that exists and, where it names one, at a heading of that file.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from mechtests import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"bash", "sh", "console"}
README_MAX_LINES = 200  # issue #27: a newcomer reads README in order, then the pages in docs/
RUN_TIMEOUT_S = 120

FENCE = re.compile(r"^(`{3,})\s*([\w+-]*)")
MARKER = re.compile(r"^<!--\s*(runnable|not runnable)\b(.*?)-->\s*$")
FLAG = re.compile(r"(?<![\w-])--[A-Za-z0-9][\w-]*(?<!-)(?![\w-])")  # not a prefix such as `--mech-`
SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
REDIRECT = re.compile(r"^[0-9]?[<>]+&?$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


@dataclass(frozen=True)
class Block:
    """One fenced shell block: where it is, what it says, and whether it is marked runnable."""

    path: Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    marker: str  # "runnable", "slow", "not runnable" or ""

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def commands(self) -> list[str]:
        """The shell lines of the block: `$ ` lines of a console block, every line of a script
        (backslash continuations joined)."""
        if self.language == "console":
            return [line[2:] for line in self.text.splitlines() if line.startswith("$ ")]
        return [line for line in self.text.replace("\\\n", " ").splitlines() if line.strip()]


@functools.cache
def prose_and_blocks(path: Path) -> tuple[list[tuple[int, str]], list[Block]]:
    """The file's lines outside fenced code (numbered), and its fenced shell blocks."""
    lines = path.read_text(encoding="utf-8").splitlines()
    prose: list[tuple[int, str]] = []
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            prose.append((i + 1, lines[i]))
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith(opening[1])), None)
        assert end is not None, f"{path.relative_to(ROOT)}:{i + 1}: a code fence that is never closed"
        if opening[2] in SHELL:
            blocks.append(Block(path, i + 1, opening[2], "\n".join(lines[i + 1:end]), _marker(path, lines, i)))
        i = end + 1
    return prose, blocks


def _marker(path: Path, lines: list[str], fence: int) -> str:
    before = lines[fence - 1].strip() if fence else ""
    found = MARKER.match(before)
    if not found:
        assert not before.startswith("<!--"), f"{path.relative_to(ROOT)}:{fence}: unknown block marker {before!r}"
        return ""
    kind, rest = found[1], found[2].strip()
    if kind == "not runnable":
        assert rest.startswith(":") and rest[1:].strip(), \
            f"{path.relative_to(ROOT)}:{fence}: say why: <!-- not runnable: REASON -->"
        return kind
    assert rest in ("", ": slow"), f"{path.relative_to(ROOT)}:{fence}: write <!-- runnable --> or <!-- runnable: slow -->"
    return "slow" if rest else "runnable"


ALL = [block for path in DOCS for block in prose_and_blocks(path)[1]]
RUNNABLE = [b for b in ALL if b.marker in ("runnable", "slow")]
CHECKED = [b for b in ALL if b not in RUNNABLE]


# --- commands and their --help -----------------------------------------------------------------
def simple_commands(line: str) -> list[list[str]]:
    """A shell line as its simple commands' words: split at && || ; | &, without comments,
    redirections or leading VAR=value assignments."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    words = iter(list(lexer))
    for word in words:
        if word in SEPARATORS:
            commands.append([])
        elif REDIRECT.match(word):
            next(words, None)  # the redirection's target
        elif commands[-1] or not ASSIGNMENT.match(word):
            commands[-1].append(word)
    return [c for c in commands if c]


def help_command(words: list[str]) -> tuple[str, ...] | None:
    """Which --help documents these words: ("pytest",), ("mechtests", SUB) or ("mechtests",);
    None for any other program (pip, python, apt-get), which is only checked for being well-formed."""
    if words[0] == "pytest" or words[:3] == ["python", "-m", "pytest"]:
        return ("pytest",)
    if words[0] == "mechtests":
        if len(words) > 1 and not words[1].startswith("-"):
            return ("mechtests", words[1])
        return ("mechtests",)
    return None


def _environment() -> dict[str, str]:
    """This environment, less pytest's own variables (an xdist worker's would reach the child),
    with one torch thread and the venv's scripts first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(OMP_NUM_THREADS="1", COLUMNS="200", PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}")
    return env


@functools.cache
def help_text(command: tuple[str, ...]) -> subprocess.CompletedProcess:
    """What `pytest --help` prints in the repository root, or `mechtests SUB --help` (run through
    the console script's entry point in this process: one import of the commands, not one per
    subcommand), once per session."""
    if command == ("pytest",):
        return subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=ROOT, env=_environment(), capture_output=True,
                              text=True, timeout=RUN_TIMEOUT_S)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([*command[1:], "--help"])
        except SystemExit as exit:
            code = exit.code
    return subprocess.CompletedProcess(["mechtests", *command[1:], "--help"], code, out.getvalue(), err.getvalue())


def unknown_flags(line: str) -> list[str]:
    """The problems with one documented command line: a subcommand that does not exist, or a
    --flag its --help does not list."""
    problems = []
    for words in simple_commands(line):
        command = help_command(words)
        if command is None:
            continue
        shown = help_text(command)
        if shown.returncode != 0:
            problems.append(f"`{' '.join(command)} --help` fails: {shown.stderr.strip()[-300:]}")
            continue
        known = set(FLAG.findall(shown.stdout))
        problems += [f"{' '.join(command)}: {flag} is not in its --help" for word in words[1:]
                     for flag in FLAG.findall(word.split("=", 1)[0]) if flag not in known]
    return problems


def inline_commands(path: Path) -> list[tuple[int, str]]:
    """Inline code in the prose that is a command (`pytest ...`, `mechtests SUB ...`) or a
    pytest option (`--mech-...`)."""
    return [(number, span) for number, span in inline_spans(path) if re.match(r"(pytest|mechtests)( |$)|--mech-", span)]


@pytest.mark.parametrize("block", [pytest.param(b, marks=pytest.mark.slow) if b.marker == "slow" else b for b in RUNNABLE],
                         ids=[b.id for b in RUNNABLE])
def test_runnable_block_runs(block: Block):
    script = "set -e -o pipefail\n" + "\n".join(block.commands())
    run = subprocess.run(["bash", "-c", script], cwd=ROOT, env=_environment(), capture_output=True, text=True,
                         timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0, f"{block.id} exited {run.returncode}:\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"


@pytest.mark.parametrize("block", CHECKED, ids=[b.id for b in CHECKED])
def test_documented_commands_use_real_options(block: Block):
    syntax = subprocess.run(["bash", "-n"], input="\n".join(block.commands()), capture_output=True, text=True)
    assert syntax.returncode == 0, f"{block.id}: not well-formed shell: {syntax.stderr.strip()}"
    problems = [f"{block.id}: {problem}" for line in block.commands() for problem in unknown_flags(line)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_inline_commands_use_real_options(path: Path):
    problems = []
    for number, span in inline_commands(path):
        line = f"pytest {span}" if span.startswith("--mech-") else span
        problems += [f"{path.relative_to(ROOT)}:{number}: `{span}`: {problem}" for problem in unknown_flags(line)]
    assert not problems, "\n".join(problems)


# --- names and paths in the prose ---------------------------------------------------------------
PYTHON_NAME = re.compile(r"^mechtests(?:\.\w+)+")
JUNIT_SOURCE = ROOT / "mechtests" / "plugin" / "junit.py"  # where the `mechtests.<property>` names of JUnit XML are written


def inline_spans(path: Path) -> list[tuple[int, str]]:
    return [(number, span) for number, line in prose_and_blocks(path)[0] for _, span in INLINE_CODE.findall(line)]


def resolves(name: str) -> bool:
    """Does `mechtests.a.b.c` name a module, or an attribute of the longest module prefix?"""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            return functools.reduce(getattr, parts[cut:], found) is not None
        except AttributeError:
            return False
    return False


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_python_names_exist(path: Path):
    junit = JUNIT_SOURCE.read_text(encoding="utf-8")
    problems = [f"{path.relative_to(ROOT)}:{number}: `{span}`: {name} does not import" for number, span in inline_spans(path)
                if (found := PYTHON_NAME.match(span)) and not resolves(name := found[0]) and name not in junit]
    assert not problems, "\n".join(problems)


def _ignored_by_git(relative: str) -> bool:
    return subprocess.run(["git", "check-ignore", "-q", "--no-index", relative], cwd=ROOT).returncode == 0


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_repository_paths_exist(path: Path):
    """An inline path whose first folder is one of the repository's (`fixtures/smollm2/CARD.md`,
    `mechtests/run/`) names something there; a relative mention (`train/`) is not checked."""
    problems = []
    for number, span in inline_spans(path):
        if not re.fullmatch(r"\.?[\w-]+(/[\w.-]+)*/?", span) or "/" not in span or not (ROOT / span.split("/")[0]).is_dir():
            continue
        if not (ROOT / span).exists() and not _ignored_by_git(span):
            problems.append(f"{path.relative_to(ROOT)}:{number}: `{span}` does not exist")
    assert not problems, "\n".join(problems)


# --- links ---------------------------------------------------------------------------------------
def heading_anchors(path: Path) -> set[str]:
    """GitHub's anchors for the file's headings: lower case, punctuation but - and _ dropped,
    spaces as hyphens, a repeated one numbered -1, -2, ..."""
    anchors: set[str] = set()
    for _, line in prose_and_blocks(path)[0]:
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not heading:
            continue
        base = re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-")
        anchor, n = base, 0
        while anchor in anchors:
            n += 1
            anchor = f"{base}-{n}"
        anchors.add(anchor)
    return anchors


def relative_links(path: Path) -> list[tuple[int, str]]:
    prose, _ = prose_and_blocks(path)
    return [(number, target) for number, line in prose for target in LINK.findall(INLINE_CODE.sub("", line))
            if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_links_land_on_a_file_and_heading(path: Path):
    problems = []
    for number, target in relative_links(path):
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            problems.append(f"{where}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in heading_anchors(linked):
            problems.append(f"{where}: no heading #{anchor} in {linked.relative_to(ROOT)}")
    assert not problems, "\n".join(problems)


def test_docs_index_links_every_page():
    linked = {(ROOT / "docs" / target.partition("#")[0]).resolve() for _, target in relative_links(ROOT / "docs" / "README.md")}
    missing = [p.name for p in DOCS[1:] if p.name != "README.md" and p not in linked]
    assert not missing, f"docs/README.md does not link {missing}"


def test_readme_is_short():
    lines = len((ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/ (at most {README_MAX_LINES})"
