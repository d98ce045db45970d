# shellcheck shell=bash
# What every script shares. Each one starts with
#
#   set -euo pipefail
#   source "$(dirname "$0")/lib.sh"
#
# which moves to the repository root and settles the project's Python (LRPLAN_PYTHON below).
#
# The ensure_* functions install one thing each, only when it is missing or out of date, so a
# script calls those it needs and a rerun costs seconds; `scripts/setup.sh` calls them all.
# They write to standard error only: other scripts read some scripts' standard output.
#
# Versions are written where the tool that uses them reads them, never in a script:
#   wasm-bindgen-cli   = the web crate's `wasm-bindgen = "=X"` pin, as cargo resolved it
#   Python packages    = scripts/requirements.txt (torch pinned to what tch links)
#   npm packages       = tests/browser/package-lock.json
#   Debian packages    = the release's own

LRPLAN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LRPLAN_SCRIPT="$(basename "$0" .sh)"

# The one way to find Python: LRPLAN_PYTHON if set (a path, relative to where the script was
# started, or a command name on PATH), else the project venv's. Made absolute before the `cd`
# below and exported, so nested scripts and the Rust tests (which read it too) agree.
LRPLAN_VENV_PYTHON="$LRPLAN_ROOT/.venv/bin/python"
case "${LRPLAN_PYTHON:-}" in
"") LRPLAN_PYTHON="$LRPLAN_VENV_PYTHON" ;;
/*) ;;
*/*) LRPLAN_PYTHON="$PWD/$LRPLAN_PYTHON" ;;
*) LRPLAN_PYTHON="$(command -v "$LRPLAN_PYTHON" || echo "$LRPLAN_PYTHON")" ;;
esac
export LRPLAN_PYTHON

# `cargo install` puts wasm-bindgen here; a login shell may not have it on PATH yet.
case ":$PATH:" in
*":${CARGO_HOME:-$HOME/.cargo}/bin:"*) ;;
*) export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH" ;;
esac

cd "$LRPLAN_ROOT" || exit 1

say() { printf '\033[1m[%s]\033[0m %s\n' "$LRPLAN_SCRIPT" "$*" >&2; }
die() {
    printf '%s: %s\n' "$LRPLAN_SCRIPT" "$*" >&2
    exit 1
}
# A heading between the steps of main.sh and test.sh.
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages, installed (one apt-get for all) unless dpkg already has them.
ensure_apt() {
    if ! { command -v dpkg-query && command -v apt-get; } >/dev/null; then
        die "installing needs Debian's apt; install these packages yourself: $*"
    fi
    local missing=() pkg
    for pkg in "$@"; do
        # shellcheck disable=SC2016 # ${Status} is dpkg-query's field, not a shell variable
        [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] ||
            missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    say "apt-get install ${missing[*]}"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# The wasm-bindgen version the web crate is built with. The CLI must be exactly that version
# (it rejects a module whose macros wrote another schema), so it is read from cargo (the pin in
# crates/web/Cargo.toml, resolved into Cargo.lock) rather than written a second time here.
wasm_bindgen_version() {
    local id version
    id="$(cargo pkgid wasm-bindgen)" || die "cargo pkgid wasm-bindgen: cannot resolve the web crate's wasm-bindgen"
    version="${id##*[@#:]}"
    [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || die "cargo pkgid wasm-bindgen printed '$id': no version in it"
    echo "$version"
}

# What building and testing the page needs: the wasm32 target, wasm-bindgen-cli (with
# wasm-bindgen-test-runner) at the crate's version, and wasm-opt (Debian's binaryen).
ensure_wasm_tools() {
    if ! rustup target list --installed | grep -x wasm32-unknown-unknown >/dev/null; then
        say "rustup target add wasm32-unknown-unknown"
        rustup target add wasm32-unknown-unknown >&2
    fi
    local v
    v="$(wasm_bindgen_version)"
    if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $v" ] ||
        [ "$(wasm-bindgen-test-runner --version 2>/dev/null)" != "wasm-bindgen-test-runner $v" ]; then
        say "cargo install wasm-bindgen-cli $v (a few minutes, once)"
        # No --locked: one of its locked dependencies is not in the registry.
        cargo install -q wasm-bindgen-cli --version "$v" >&2
    fi
    ensure_apt binaryen
}

need_python() {
    [ -x "$LRPLAN_PYTHON" ] ||
        die "no Python at $LRPLAN_PYTHON: run scripts/setup.sh (it creates .venv), or set LRPLAN_PYTHON"
}

# The project's Python: .venv with scripts/requirements.txt installed. A stamp in .venv holds
# the sha256 of the requirements it was filled from, so a line added to that file reaches every
# existing checkout (and CI) on its next run. A Python named by LRPLAN_PYTHON is its owner's to
# fill; it is only checked to exist.
ensure_venv() {
    if [ "$LRPLAN_PYTHON" != "$LRPLAN_VENV_PYTHON" ]; then
        need_python
        return
    fi
    local req=scripts/requirements.txt stamp=.venv/.requirements.sha256 sum
    sum="$(sha256sum "$req" | cut -d' ' -f1)"
    if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$sum" ]; then
        return
    fi
    if [ ! -x .venv/bin/python ]; then
        # Debian keeps venv's pip bootstrap in a package of its own.
        python3 -c 'import ensurepip, venv' 2>/dev/null || ensure_apt python3-venv
        say "python3 -m venv .venv"
        rm -f "$stamp"
        python3 -m venv .venv >&2
    fi
    say "pip install -r $req into .venv (torch is about 4.6 GB the first time)"
    .venv/bin/pip install -q --disable-pip-version-check -r "$req" >&2
    echo "$sum" >"$stamp"
}

# The lrplan Python package (crates/python: the schedule crate's PyO3 bindings) built from this
# checkout and installed into .venv the way a user installs it, `pip install crates/python`, with
# the venv's pinned maturin. Rebuilt when a file it is built from changes (a stamp in .venv holds
# their sha256), so a rerun with nothing changed costs a second. A Python named by LRPLAN_PYTHON
# is its owner's to fill: there the package is only checked to import.
ensure_python_package() {
    ensure_venv
    if [ "$LRPLAN_PYTHON" != "$LRPLAN_VENV_PYTHON" ]; then
        "$LRPLAN_PYTHON" -c 'import lrplan' 2>/dev/null ||
            die "LRPLAN_PYTHON=$LRPLAN_PYTHON cannot import lrplan: pip install crates/python"
        return
    fi
    local stamp=.venv/.lrplan-python.sha256 sum
    sum="$(python_package_sources | sha256sum | cut -d' ' -f1)"
    [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || return 0
    say "pip install crates/python into .venv (compiles the Rust extension: minutes the first time)"
    # maturin's build backend runs `maturin` from PATH.
    PATH="$LRPLAN_ROOT/.venv/bin:$PATH" .venv/bin/pip install -q --disable-pip-version-check \
        --no-build-isolation --no-deps --force-reinstall crates/python >&2
    echo "$sum" >"$stamp"
}

# The hashes of the files the Python package is built from: its crate and the schedule crate
# (sources and manifests, not their tests), the workspace's manifest and lock file.
python_package_sources() {
    find crates/python/Cargo.toml crates/python/pyproject.toml crates/python/src \
        crates/python/python crates/schedule/Cargo.toml crates/schedule/src \
        -type f -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum
    sha256sum Cargo.toml Cargo.lock
}

# DIR's npm packages as its package-lock.json pins them (`npm ci`), again whenever the lock
# file changes (a stamp in DIR/node_modules). Node and npm come from Debian if absent; a Node
# installed some other way is used as it is.
ensure_npm() {
    local dir="$1" sum
    local stamp="$dir/node_modules/.lrplan-lock.sha256"
    if ! { command -v node && command -v npm; } >/dev/null; then
        ensure_apt nodejs npm
    fi
    sum="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
    [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] || return 0
    say "npm ci ($dir)"
    (cd "$dir" && npm ci --silent --no-audit --no-fund) >&2
    echo "$sum" >"$stamp"
}

# What building or running the trainer needs. torch-sys (LIBTORCH_USE_PYTORCH=1) and the
# trainer's build.rs find libtorch by asking `python` on PATH where torch lives (when
# VIRTUAL_ENV is set; `python3` otherwise), so LRPLAN_PYTHON's folder goes first on PATH and
# its environment becomes VIRTUAL_ENV.
libtorch_env() {
    need_python
    local bin
    bin="$(dirname "$LRPLAN_PYTHON")"
    [ -x "$bin/python" ] ||
        die "LRPLAN_PYTHON=$LRPLAN_PYTHON: building the trainer runs \`python\` from its folder, and there is no $bin/python; use a venv's (or conda env's) python"
    VIRTUAL_ENV="$(dirname "$bin")"
    export VIRTUAL_ENV PATH="$bin:$PATH" LIBTORCH_USE_PYTORCH=1
}

# Builds the trainer if needed (scripts/build-trainer.sh) and prints the binary's path.
build_trainer() {
    "$LRPLAN_ROOT/scripts/build-trainer.sh" | sed -n 's/^trainer binary: //p'
}

# Benchmarks: the larger of two numbers, and the steps/s a `throughput: X steps/s` line names
# (the trainer's summary and bench-trainer-torch.py print it alike).
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (b > a) ? b : a }'; }
throughput() { sed -n 's/^throughput: \([0-9.]*\).*/\1/p'; }
