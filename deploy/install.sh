#!/usr/bin/env bash
# Offline install of the shopfloor collector from a wheel and a folder of dependency wheels
# (made on a connected machine by make-wheelhouse.sh). Safe to run again: for an upgrade, or to repair.
#
#   sudo ./install.sh --wheel dist/shopfloor_collector-0.1.0-py3-none-any.whl --wheelhouse wheelhouse
#   ./install.sh --wheel W --wheelhouse D --prefix /tmp/sf --no-system     # venv and rendered units only
#
# Without --no-system (needs root) it also creates the shopfloor user, /etc/shopfloor (an example plant
# file, never overwritten), /var/lib/shopfloor, /var/log/shopfloor, the systemd units, log rotation and
# journald retention, and links /usr/local/bin/shopfloor. It never starts or restarts a service.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX=/opt/shopfloor
PYTHON=python3
WHEEL=""
WHEELHOUSE=""
SYSTEM=1
SERVICE_USER=shopfloor
CONFIG_DIR=/etc/shopfloor
STATE_DIR=/var/lib/shopfloor
LOG_DIR=/var/log/shopfloor
UNIT_DIR=/etc/systemd/system

say() { printf 'install: %s\n' "$*"; }
die() { printf 'install: ERROR: %s\n' "$*" >&2; exit 1; }
usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    cat <<EOF

options:
  --wheel FILE        the shopfloor_collector wheel (default: the only dist/*.whl next to this script)
  --wheelhouse DIR    folder with every dependency wheel (default: wheelhouse/ next to this script)
  --prefix DIR        where the venv and the rendered files go (default /opt/shopfloor)
  --python PY         Python >= 3.11 with the venv module (default python3)
  --no-system         only the venv and \$PREFIX/share; no user, /etc, units (no root needed)
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --wheel) WHEEL="${2:?--wheel needs a file}"; shift 2 ;;
        --wheelhouse) WHEELHOUSE="${2:?--wheelhouse needs a folder}"; shift 2 ;;
        --prefix) PREFIX="${2:?--prefix needs a folder}"; shift 2 ;;
        --python) PYTHON="${2:?--python needs an interpreter}"; shift 2 ;;
        --no-system) SYSTEM=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

# --- inputs -------------------------------------------------------------------------------------
if [[ -z "$WHEEL" ]]; then
    shopt -s nullglob
    found=("$HERE"/dist/shopfloor_collector-*.whl)
    shopt -u nullglob
    [[ ${#found[@]} -eq 1 ]] || die "pass --wheel FILE (found ${#found[@]} wheels in $HERE/dist)"
    WHEEL="${found[0]}"
fi
[[ -z "$WHEELHOUSE" ]] && WHEELHOUSE="$HERE/wheelhouse"
[[ -f "$WHEEL" && "$WHEEL" == *.whl ]] || die "not a wheel file: $WHEEL"
[[ -d "$WHEELHOUSE" ]] || die "wheelhouse folder not found: $WHEELHOUSE"
WHEEL="$(cd "$(dirname "$WHEEL")" && pwd)/$(basename "$WHEEL")"
WHEELHOUSE="$(cd "$WHEELHOUSE" && pwd)"
# The prefix ends up in unit files: keep it to characters systemd needs no escaping for.
[[ "$PREFIX" =~ ^/[A-Za-z0-9._/-]+$ ]] || die "--prefix must be an absolute path of [A-Za-z0-9._/-]: $PREFIX"
PREFIX="${PREFIX%/}"
if [[ $SYSTEM -eq 1 && $EUID -ne 0 ]]; then
    die "the system part needs root: run with sudo, or pass --no-system for the venv only"
fi
command -v "$PYTHON" >/dev/null || die "$PYTHON not found (install python3 >= 3.11 and python3-venv)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || die "$PYTHON is $("$PYTHON" -V 2>&1); shopfloor needs Python >= 3.11"
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
    || die "$PYTHON cannot create virtual environments (Debian/Ubuntu: apt install python3-venv)"

# Resources sit next to this script in the offline bundle, or in the repository around deploy/.
resource() {
    local name="$1" bundled="$2" in_repo="$3"
    if [[ -e "$HERE/$bundled" ]]; then printf '%s\n' "$HERE/$bundled"
    elif [[ -e "$HERE/../$in_repo" ]]; then printf '%s\n' "$(cd "$HERE/.." && pwd)/$in_repo"
    else die "$name not found next to install.sh ($HERE/$bundled)"
    fi
}
TEMPLATES="$(resource "device templates" templates configs/templates)"
DOCS="$(resource "documentation" docs docs)"

# --- venv ---------------------------------------------------------------------------------------
VENV="$PREFIX/venv"
mkdir -p "$PREFIX"
if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c '' 2>/dev/null; then
    say "existing venv is broken (Python upgraded?): recreating $VENV"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    say "creating venv $VENV ($("$PYTHON" -V 2>&1))"
    "$PYTHON" -m venv "$VENV"
fi
if [[ $SYSTEM -eq 1 ]] && command -v systemctl >/dev/null \
    && systemctl is-active --quiet shopfloor-collector.service 2>/dev/null; then
    say "NOTE: shopfloor-collector is running; restart it after the install to use the new version"
fi
say "installing $(basename "$WHEEL") and its dependencies from $WHEELHOUSE (no network)"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check --no-input)
"${pip[@]}" install --quiet --no-index --find-links "$WHEELHOUSE" --upgrade "$WHEEL" \
    || die "pip could not install from $WHEELHOUSE: a dependency wheel is missing or built for another Python/platform (make the wheelhouse with make-wheelhouse.sh for this machine)"
# Same version number, rebuilt wheel: replace the package itself, leave the dependencies alone.
"${pip[@]}" install --quiet --no-index --no-deps --force-reinstall "$WHEEL"
"${pip[@]}" check >/dev/null || die "dependency check failed: $("${pip[@]}" check)"
VERSION="$("$VENV/bin/shopfloor" --version)" || die "the installed shopfloor command does not run"
say "installed: $VERSION"

# --- files under the prefix (rendered units, docs, templates, examples) --------------------------
SHARE="$PREFIX/share"
mkdir -p "$SHARE/systemd" "$SHARE/doc" "$SHARE/templates" "$SHARE/etc"
for unit in "$HERE"/systemd/*.service "$HERE"/systemd/*.timer; do
    sed "s|@PREFIX@|$PREFIX|g" "$unit" > "$SHARE/systemd/$(basename "$unit")"
done
cp "$HERE"/logrotate/shopfloor "$HERE"/journald/shopfloor-retention.conf "$HERE"/etc/* "$SHARE/etc/"
cp "$TEMPLATES"/*.yaml "$SHARE/templates/"
cp "$DOCS"/*.md "$SHARE/doc/" 2>/dev/null || true
say "units rendered into $SHARE/systemd"

if [[ $SYSTEM -eq 0 ]]; then
    say "done (--no-system): run $VENV/bin/shopfloor, units in $SHARE/systemd"
    exit 0
fi

# --- system: user, folders, configuration -------------------------------------------------------
getent group "$SERVICE_USER" >/dev/null || groupadd --system "$SERVICE_USER"
if ! id -u "$SERVICE_USER" >/dev/null 2>&1; then
    useradd --system --gid "$SERVICE_USER" --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin --comment "shopfloor collector" "$SERVICE_USER"
    say "created system user $SERVICE_USER"
fi
# The units add dialout themselves (SupplementaryGroups=); membership is for manual runs such as
# `sudo -u shopfloor shopfloor probe` on a serial device.
if getent group dialout >/dev/null; then
    usermod -a -G dialout "$SERVICE_USER"
else
    say "NOTE: no dialout group here; serial ports need a group the service user is in"
fi

install -d -m 0750 -o root -g "$SERVICE_USER" "$CONFIG_DIR" "$CONFIG_DIR/templates"
install -d -m 0750 -o "$SERVICE_USER" -g "$SERVICE_USER" "$STATE_DIR" "$LOG_DIR"
copy_once() {  # src dst mode: an operator's file is never overwritten
    if [[ -e "$2" ]]; then return 0; fi
    install -m "$3" -o root -g "$SERVICE_USER" "$1" "$2"
    say "created $2"
}
copy_once "$HERE/etc/plant.yaml" "$CONFIG_DIR/plant.yaml" 0640
copy_once "$HERE/etc/collector.env" "$CONFIG_DIR/collector.env" 0640
copy_once "$HERE/etc/historian.env" "$CONFIG_DIR/historian.env" 0640
for template in "$TEMPLATES"/*.yaml; do  # new templates of an upgrade appear; edited ones stay
    copy_once "$template" "$CONFIG_DIR/templates/$(basename "$template")" 0640
done

# --- system: units, log retention, command link --------------------------------------------------
for unit in "$SHARE"/systemd/*; do
    install -m 0644 "$unit" "$UNIT_DIR/$(basename "$unit")"
done
if [[ -d /etc/logrotate.d ]]; then
    install -m 0644 "$HERE/logrotate/shopfloor" /etc/logrotate.d/shopfloor
else
    say "NOTE: logrotate is not installed (apt install logrotate); /var/log/shopfloor will not rotate"
fi
JOURNALD_CONF=/etc/systemd/journald.conf.d/shopfloor-retention.conf
if [[ ! -e "$JOURNALD_CONF" ]]; then
    install -d -m 0755 "$(dirname "$JOURNALD_CONF")"
    install -m 0644 "$HERE/journald/shopfloor-retention.conf" "$JOURNALD_CONF"
    say "created $JOURNALD_CONF (takes effect after: systemctl restart systemd-journald)"
fi
ln -sfn "$VENV/bin/shopfloor" /usr/local/bin/shopfloor
if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
else
    say "NOTE: systemd is not running here; units installed but not loaded"
fi

cat <<EOF

Installed $VERSION into $PREFIX.
Next steps:
  1. Describe the plant:   sudoedit $CONFIG_DIR/plant.yaml    (secrets: $CONFIG_DIR/collector.env)
  2. Check it:             sudo -u $SERVICE_USER shopfloor config check $CONFIG_DIR/plant.yaml
  3. Reach the devices:    sudo -u $SERVICE_USER shopfloor probe -c $CONFIG_DIR/plant.yaml
  4. Start at boot:        sudo systemctl enable --now shopfloor-collector shopfloor-journal-export.timer
     (and shopfloor-historian when storage is VictoriaMetrics/InfluxDB behind MQTT)
  5. Watch it:             systemctl status shopfloor-collector; journalctl -u shopfloor-collector -f
Operations guide: $SHARE/doc/OPERATIONS.md
EOF
