#!/usr/bin/env bash
# On a connected machine: build the shopfloor wheel, download every dependency as a wheel, and pack
# them with install.sh, the units and the docs into one folder (and a .tar.gz) to carry to the plant.
#
#   deploy/make-wheelhouse.sh                              # for a PC like this one
#   deploy/make-wheelhouse.sh --platform manylinux2014_x86_64 --python-version 3.11   # another target
#
# The target PC then runs:  sudo ./install.sh    (inside the unpacked folder; no network needed)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="$(cd "$HERE/.." && pwd)"
PYTHON=python3
OUT=""
PLATFORMS=()
PYVER=""

say() { printf 'make-wheelhouse: %s\n' "$*"; }
die() { printf 'make-wheelhouse: ERROR: %s\n' "$*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
    case "$1" in
        --out) OUT="${2:?--out needs a folder}"; shift 2 ;;
        --python) PYTHON="${2:?--python needs an interpreter}"; shift 2 ;;
        --platform) PLATFORMS+=("${2:?--platform needs a tag}"); shift 2 ;;  # repeatable
        --python-version) PYVER="${2:?--python-version needs e.g. 3.11}"; shift 2 ;;
        -h|--help)
            sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
            printf '\noptions: --out DIR (default dist/offline), --python PY, --platform TAG (repeatable),\n'
            printf '         --python-version X.Y (both for a target unlike this machine)\n'
            exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
done
if [[ ${#PLATFORMS[@]} -gt 0 && -z "$PYVER" ]] || [[ ${#PLATFORMS[@]} -eq 0 && -n "$PYVER" ]]; then
    die "--platform and --python-version go together (the target's pip tags)"
fi
command -v "$PYTHON" >/dev/null || die "$PYTHON not found"
"$PYTHON" -m pip --version >/dev/null 2>&1 || die "$PYTHON has no pip"

VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SRC/pyproject.toml" | head -1)"
[[ -n "$VERSION" ]] || die "no version in $SRC/pyproject.toml"
OUT="${OUT:-$SRC/dist/offline}"
BUNDLE="$OUT/shopfloor-$VERSION-offline"
rm -rf "$BUNDLE"
mkdir -p "$BUNDLE/dist" "$BUNDLE/wheelhouse"

say "building the wheel of shopfloor $VERSION"
# From a clean copy, so no build/ or egg-info is left in the working tree.
BUILD="$(mktemp -d)"
trap 'rm -rf "$BUILD"' EXIT
cp -r "$SRC/pyproject.toml" "$SRC/README.md" "$SRC/collector" "$SRC/drivers" "$SRC/simulators" "$BUILD/"
find "$BUILD" -name __pycache__ -prune -exec rm -rf {} +
"$PYTHON" -m pip wheel --quiet --no-deps --wheel-dir "$BUNDLE/dist" "$BUILD"
WHEEL="$(ls "$BUNDLE"/dist/shopfloor_collector-*.whl)"

say "downloading the dependency wheels"
target=()
if [[ ${#PLATFORMS[@]} -gt 0 ]]; then
    for p in "${PLATFORMS[@]}"; do target+=(--platform "$p"); done
    target+=(--python-version "$PYVER" --implementation cp)
fi
"$PYTHON" -m pip download --quiet --only-binary=:all: --dest "$BUNDLE/wheelhouse" "${target[@]}" "$WHEEL" \
    || die "pip download failed (network? a dependency without a wheel for this target?)"
rm -f "$BUNDLE/wheelhouse/$(basename "$WHEEL")"

say "adding install.sh, units, examples, templates and docs"
cp "$HERE/install.sh" "$BUNDLE/"
cp -r "$HERE/systemd" "$HERE/logrotate" "$HERE/journald" "$HERE/etc" "$HERE/windows" "$BUNDLE/"
mkdir -p "$BUNDLE/templates" "$BUNDLE/docs"
cp "$SRC"/configs/templates/*.yaml "$BUNDLE/templates/"
cp "$SRC"/docs/*.md "$BUNDLE/docs/"
(cd "$BUNDLE" && find dist wheelhouse -name '*.whl' -print0 | sort -z | xargs -0 sha256sum > SHA256SUMS)
tar -C "$OUT" -czf "$BUNDLE.tar.gz" "$(basename "$BUNDLE")"

say "done: $BUNDLE.tar.gz ($(ls "$BUNDLE/wheelhouse" | wc -l) dependency wheels)"
say "on the target: tar xzf $(basename "$BUNDLE").tar.gz && cd $(basename "$BUNDLE") && sudo ./install.sh"
