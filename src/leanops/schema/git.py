"""Schema files as git has them: the versions at a base ref, next to the working tree's.

    root = repo_root(Path("schemas"))
    base = resolve_base(root, None)  # the merge base of HEAD and main
    before = files_at(root, base.commit, relative_dir(root, Path("schemas")))  # {"events.json": b"..."}
    after = files_in(Path("schemas"))

Git runs as a subprocess with argument lists (never a shell string); its failures become one-line
`TerminalError`s (exit 2) that say what to do.
"""
from __future__ import annotations

import dataclasses
import os
import subprocess  # nosec B404  # runs git only, with an argument list and no shell
from pathlib import Path

from leanops.errors import TerminalError
from leanops.schema_file import SCHEMA_SUFFIXES

DEFAULT_BASES = ("main", "origin/main")  # a CI checkout often has only the remote-tracking branch
_ENV = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


@dataclasses.dataclass(frozen=True)
class BaseRef:
    """What the schema files are compared against."""

    ref: str  # as given (or the default found)
    commit: str  # the merge base of HEAD and `ref`, or `ref` itself when they share no history
    note: str = ""  # why `commit` is not the merge base, when it is not


def _git(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], input=stdin, capture_output=True, env=_ENV,  # nosec B603 B607  # the user's git from PATH, on purpose; arguments as a list, no shell
                              check=False)
    except FileNotFoundError as exc:
        raise TerminalError("git is not installed or not on PATH: `leanops lint` reads the base versions "
                            "of the schema files with git") from exc


def _first_line(done: subprocess.CompletedProcess[bytes]) -> str:
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[0] if lines else f"git exited with {done.returncode}"


def repo_root(directory: Path) -> Path:
    """The top of the work tree holding `directory` (or its nearest existing parent)."""
    start = directory.absolute()
    while not start.is_dir() and start != start.parent:
        start = start.parent
    done = _git(start, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        raise TerminalError(f"{directory} is not in a git work tree ({_first_line(done)}): `leanops lint` "
                            "compares the schema files with their versions at a git ref; run it in the checkout")
    return Path(done.stdout.decode().strip())


def relative_dir(root: Path, directory: Path) -> str:
    """`directory` as a path inside the repository ('' for the root), '/'-separated as git writes it."""
    try:
        relative = directory.absolute().resolve().relative_to(root.resolve())
    except ValueError:
        raise TerminalError(f"schema directory {directory} is outside the git repository {root}") from None
    return relative.as_posix() if relative.parts else ""


def _commit(root: Path, ref: str) -> str | None:
    if ref.startswith("-"):  # never let a ref be read as an option
        return None
    done = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return done.stdout.decode().strip() if done.returncode == 0 else None


def resolve_base(root: Path, ref: str | None) -> BaseRef:
    """The commit to compare against: the merge base of HEAD and `ref` (default main, else
    origin/main), so changes merged into the base branch since are not read as reverted here."""
    candidates = (ref,) if ref else DEFAULT_BASES
    for candidate in candidates:
        commit = _commit(root, candidate)
        if commit:
            break
    else:
        if ref:
            raise TerminalError(f"--base {ref!r} is not a commit in {root}: fetch it (in CI: checkout with "
                                "fetch-depth: 0) or name another ref")
        raise TerminalError(f"no branch {' or '.join(DEFAULT_BASES)} in {root} to compare against: "
                            "pass --base REF")
    done = _git(root, "merge-base", "HEAD", commit)
    if done.returncode == 0:
        return BaseRef(candidate, done.stdout.decode().strip())
    return BaseRef(candidate, commit, f"HEAD and {candidate} share no history ({_first_line(done) or 'none'}); "
                                      f"comparing against {candidate} itself")


def files_at(root: Path, commit: str, directory: str) -> dict[str, bytes]:
    """Schema files (by file name) directly in `directory` at `commit`; {} when it had none."""
    listing = _git(root, "ls-tree", "-z", "--full-name", commit, "--", f"{directory}/" if directory else ".")
    if listing.returncode != 0:
        raise TerminalError(f"cannot list {directory or '.'} at {commit}: {_first_line(listing)}")
    blobs: dict[str, str] = {}
    for entry in listing.stdout.split(b"\0"):
        if not entry:
            continue
        meta, _, path = entry.partition(b"\t")
        _, kind, sha = meta.split(b" ")
        name = path.decode("utf-8", "surrogateescape").rsplit("/", 1)[-1]
        if kind == b"blob" and name.endswith(SCHEMA_SUFFIXES):
            blobs[name] = sha.decode()
    return dict(zip(blobs, _blobs(root, list(blobs.values()))))


def _blobs(root: Path, shas: list[str]) -> list[bytes]:
    """The contents of `shas`, in one `git cat-file --batch`."""
    if not shas:
        return []
    done = _git(root, "cat-file", "--batch", stdin="".join(f"{sha}\n" for sha in shas).encode())
    if done.returncode != 0:
        raise TerminalError(f"cannot read schema files from git: {_first_line(done)}")
    out, position, contents = done.stdout, 0, []
    for _ in shas:  # "<sha> blob <size>\n<content>\n" per object
        header_end = out.index(b"\n", position)
        size = int(out[position:header_end].split(b" ")[2])
        contents.append(out[header_end + 1:header_end + 1 + size])
        position = header_end + 1 + size + 1
    return contents


def files_in(directory: Path) -> dict[str, bytes]:
    """Schema files (by file name) directly in `directory` now; {} when it does not exist."""
    if not directory.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())
            if p.name.endswith(SCHEMA_SUFFIXES) and p.is_file()}
