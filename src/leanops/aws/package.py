"""The AWS artifacts, built with reproducible bytes: the Lambda zip, the lean-ops wheel and the Glue scripts.

    paths = build_all(Path("dist/aws"))   # leanops-lambda.zip, lean_ops-<v>-py3-none-any.whl, glue/*.py

Zip entries are sorted (the wheel keeps its builder's order), dated 1980-01-01 and mode 0644, so
the same sources, Python and zlib give the same bytes wherever they are built.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import subprocess  # nosec B404  # runs this interpreter's pip only, with an argument list and no shell
import sys
import tempfile
import zipfile
from pathlib import Path

import leanops
from leanops.errors import ConfigError, LeanOpsError

LAMBDA_ZIP = "leanops-lambda.zip"
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
SOURCE_DATE_EPOCH = "315532800"  # 1980-01-01T00:00:00Z, for the wheel builder
VENDORED = ("tenacity",)  # pure-Python dependencies of sqs_to_firehose; boto3 comes with the Lambda runtime
SKIP_PARTS = ("__pycache__",)
SKIP_SUFFIXES = (".pyc", ".pyo")


def project_root() -> Path:
    """The source checkout holding pyproject.toml and glue/ (an installed wheel has neither)."""
    root = Path(__file__).resolve().parents[3]
    if not (root / "pyproject.toml").is_file() or not (root / "glue").is_dir():
        raise ConfigError(f"packaging needs the lean-ops source checkout; no pyproject.toml and glue/ in {root}")
    return root


def write_zip(path: Path, entries: dict[str, bytes], order: list[str] | None = None) -> Path:
    """A zip with fixed dates and modes; written beside `path`, then moved into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name in order or sorted(entries):
            info = zipfile.ZipInfo(name, ZIP_EPOCH)
            info.create_system = 3  # unix, so the mode below is read
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name], compresslevel=9)
    os.replace(tmp, path)
    return path


def _tree(base: Path, prefix: str) -> dict[str, bytes]:
    """Every file under `base` as zip entries below `prefix`, bytecode caches left out."""
    entries = {}
    for path in base.rglob("*"):
        if path.is_file() and not any(p in SKIP_PARTS for p in path.parts) and path.suffix not in SKIP_SUFFIXES:
            entries[f"{prefix}/{path.relative_to(base).as_posix()}"] = path.read_bytes()
    return entries


def _vendored(name: str) -> dict[str, bytes]:
    """An installed pure-Python distribution's package files and licence, as zip entries."""
    dist = importlib.metadata.distribution(name)
    entries = {}
    for file in dist.files or []:
        text = str(file).replace("\\", "/")
        keep = text.startswith(f"{name}/") or "/licenses/" in text or text.rsplit("/", 1)[-1].startswith("LICEN")
        if keep and not text.endswith(SKIP_SUFFIXES) and "__pycache__" not in text:
            entries[text] = Path(dist.locate_file(file)).read_bytes()
    return entries


def build_lambda_zip(out_dir: Path) -> Path:
    """The Lambda code zip: the leanops package source plus vendored tenacity, not the heavy dependencies.

    The handlers that open the lakehouse (dlq_drainer, orchestration) need pyiceberg, pyarrow, duckdb
    and pydantic from a Lambda layer or a container image; sqs_to_firehose needs only boto3.
    """
    entries = _tree(Path(leanops.__file__).resolve().parent, "leanops")
    for name in VENDORED:
        entries.update(_vendored(name))
    return write_zip(Path(out_dir) / LAMBDA_ZIP, entries)


def build_wheel(out_dir: Path) -> Path:
    """`pip wheel --no-deps` of a clean copy of the checkout (no stale build/ files), then re-zipped."""
    root = project_root()
    with tempfile.TemporaryDirectory(prefix="leanops-wheel-") as tmp:
        source, wheels = Path(tmp) / "source", Path(tmp) / "wheels"
        shutil.copytree(root / "src", source / "src",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        for name in ("pyproject.toml", "README.md"):
            shutil.copy2(root / name, source / name)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--quiet",  # nosec B603  # our own interpreter and a path we made
                               "--disable-pip-version-check", "-w", str(wheels)], check=False, capture_output=True,
                              text=True, env={**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH})
        if done.returncode != 0:
            raise LeanOpsError(f"pip wheel failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
        built = next(wheels.glob("*.whl"))
        with zipfile.ZipFile(built) as archive:
            names = archive.namelist()  # keep the builder's order: dist-info (RECORD) last
            entries = {name: archive.read(name) for name in names}
        return write_zip(Path(out_dir) / built.name, entries, order=names)


def build_glue_artifacts(out_dir: Path) -> list[Path]:
    """The lean-ops wheel (Glue's --additional-python-modules) and the three Glue job scripts."""
    out_dir = Path(out_dir)
    paths = [build_wheel(out_dir)]
    (out_dir / "glue").mkdir(parents=True, exist_ok=True)
    for script in sorted((project_root() / "glue").glob("*.py")):
        target = out_dir / "glue" / script.name
        target.write_bytes(script.read_bytes())
        paths.append(target)
    return paths


def build_all(out_dir: Path) -> list[Path]:
    return [build_lambda_zip(out_dir), *build_glue_artifacts(out_dir)]


def describe(paths: list[Path]) -> list[dict]:
    """Path, sha256 and size of each artifact, for the release notes and the deploy step."""
    return [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "bytes": p.stat().st_size}
            for p in paths]
