#!/usr/bin/env bash
# Build the Lambda layer with lean-ops' runtime dependencies (pyiceberg, pyarrow, duckdb, pydantic, ...) for
# the functions' runtime and architecture: docs/terraform.md, "The Lambda layer".
#
#   bash infra/terraform/build-layer.sh [ARTIFACTS_DIR] [PYTHON_VERSION] [ARCH]
#   defaults:                             dist/aws        3.12             x86_64
#
# Needs the wheel `leanops package --out ARTIFACTS_DIR` wrote, and PyPI (manylinux wheels only, so it builds
# on any host). Writes ARTIFACTS_DIR/leanops-layer.zip, Terraform's default var.lambda_layer_zip.
#
# Lambda allows 250 MB unzipped for a function and its layers together. The dependencies are ~430 MB as
# installed; the layer drops what the functions already have or never load (the leanops package itself: it
# is in leanops-lambda.zip; boto3/botocore: the Lambda runtime has them; pyarrow's tests, headers and
# Flight; bytecode caches; type stubs) and strips the shared libraries' symbols, which brings it to ~245 MB.
# A new dependency can push it over: the script fails then, and the container-image route is the way out.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARTIFACTS="${1:-dist/aws}"
PY="${2:-3.12}"
ARCH="${3:-x86_64}"
LIMIT_MB=245  # of Lambda's 250 MB, leaving room for leanops-lambda.zip (~1 MB unzipped)
case "$ARCH" in
  x86_64) PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64) ;;
  arm64) PLATFORMS=(--platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64) ;;
  *) echo "architecture must be x86_64 or arm64, not $ARCH" >&2; exit 2 ;;
esac
ARTIFACTS="$(cd "$ARTIFACTS" && pwd)"
shopt -s nullglob
wheels=("$ARTIFACTS"/lean_ops-*-py3-none-any.whl)
if [ "${#wheels[@]}" -ne 1 ]; then
  echo "expected exactly one lean_ops wheel in $ARTIFACTS: run \`leanops package --out $ARTIFACTS\` first" >&2
  exit 2
fi
PIP_PYTHON="${PIP_PYTHON:-$( [ -x .venv/bin/python ] && echo "$PWD/.venv/bin/python" || echo python3)}"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
site="$build/python"  # Lambda puts a layer's python/ on sys.path

"$PIP_PYTHON" -m pip install --quiet --disable-pip-version-check --target "$site" \
  --implementation cp --python-version "$PY" "${PLATFORMS[@]}" --only-binary=:all: "${wheels[0]}[aws]"

cd "$site"
rm -rf leanops lean_ops-*.dist-info boto3 boto3-*.dist-info botocore botocore-*.dist-info \
       s3transfer s3transfer-*.dist-info bin _duckdb-stubs pyarrow/tests pyarrow/include \
       pyarrow/libarrow_flight.so* pyarrow/_flight*.so \
       numpy numpy.libs numpy-*.dist-info  # only Standardized's DuckDB UDFs use numpy: they run in Glue
find . -name __pycache__ -prune -exec rm -rf {} +
find . \( -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete
if command -v strip >/dev/null; then
  find . -name '*.so*' -type f -exec strip --strip-unneeded {} + 2>/dev/null || true
else
  echo "warning: no strip (binutils): the layer keeps its symbols and will not fit Lambda's 250 MB" >&2
fi
size_mb=$(du -sm --apparent-size . | cut -f1)
if [ "$size_mb" -gt "$LIMIT_MB" ]; then
  echo "error: the layer is ${size_mb} MB unzipped, over ${LIMIT_MB} MB: Lambda would reject the functions" >&2
  exit 1
fi
cd "$build"
# fixed dates and modes, sorted entries: the same inputs give the same zip
find python -type f | LC_ALL=C sort > files.txt
python3 - layer.zip files.txt <<'PY'
import os, sys, zipfile
out, listing = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(out, "w") as archive:
    for name in open(listing).read().split("\n"):
        if name:
            info = zipfile.ZipInfo(name, (1980, 1, 1, 0, 0, 0))
            info.create_system = 3
            info.external_attr = (0o100755 if os.access(name, os.X_OK) else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(name, "rb") as handle:
                archive.writestr(info, handle.read(), compresslevel=9)
PY
mv layer.zip "$ARTIFACTS/leanops-layer.zip"
echo "$ARTIFACTS/leanops-layer.zip: $(du -h "$ARTIFACTS/leanops-layer.zip" | cut -f1) zipped, ${size_mb} MB unzipped (python $PY, $ARCH)"
