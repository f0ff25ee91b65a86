#!/usr/bin/env bash
# Create .venv with a Python >= 3.12 and install the project into it.
#   scripts/setup.sh          runtime only
#   scripts/setup.sh dev      runtime + test/notebook/dashboard extras
set -euo pipefail
if [[ "${PYTHON:-}" == */* && "$PYTHON" != /* ]]; then
    PYTHON="$PWD/$PYTHON"  # a relative path is from where the user typed it, not from the project's folder (cd below)
fi
cd "$(dirname "$0")/.."
extra="${1:-}"
case "$extra" in
    "" | dev) ;;
    *) echo "error: unknown argument '$extra': give none (runtime only) or dev (runtime + test, notebook and dashboard extras)" >&2; exit 2 ;;
esac

new_enough() {
    command -v "$1" >/dev/null 2>&1 && "$1" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null
}

find_python() {
    if [ -n "${PYTHON:-}" ]; then  # the user's choice is used or refused, never passed over
        new_enough "$PYTHON" && { command -v "$PYTHON"; return; }
        echo "error: PYTHON=$PYTHON is not a Python >= 3.12 that runs here (Mesa 3.5 needs one)" >&2
        exit 2
    fi
    for cand in python3.13 python3.12 python3; do
        if new_enough "$cand"; then
            command -v "$cand"; return
        fi
    done
    # pyenv installs versions that its shims hide unless selected
    for cand in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3; do
        [ -x "$cand" ] && { echo "$cand"; return; }
    done
    echo "error: Python >= 3.12 not found (Mesa 3.5 needs it). Install one or set PYTHON=/path/to/python3.12" >&2
    exit 2
}

if [ ! -x .venv/bin/python ]; then
    python="$(find_python)"  # under set -e, find_python's exit 2 ends the script here
    "$python" -m venv .venv
elif [ -n "${PYTHON:-}" ]; then
    echo "note: .venv exists, so PYTHON=$PYTHON is not used (remove .venv to make it anew with that Python)" >&2
fi
# pip's and setuptools' chatter goes to a log, shown only if the install fails
pip_install() {
    if ! .venv/bin/python -m pip install --disable-pip-version-check "$@" > .venv/install.log 2>&1; then
        cat .venv/install.log >&2
        echo "error: pip install $* failed (log above, also in .venv/install.log)" >&2
        exit 1
    fi
}
echo "setting up .venv (log: .venv/install.log) ..."
pip_install --upgrade pip
if [ "$extra" = "dev" ]; then
    pip_install -e ".[dev]"
    # The dashboard test drives Debian's Chromium; nothing may download a browser.
    if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
else
    pip_install -e .
fi
