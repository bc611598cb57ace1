# Shared by the packaging scripts (sourced, not run). Finds the static binary to package, its
# version, and the completions and man pages that go with it.
#
#   pkg_init "$@"   parses --bin PATH (default: build it with scripts/build-static) and
#                   --out DIR (default: dist/), then sets:
#     REPO     repository root          BIN      the static binary
#     VERSION  the binary's version     ARCH     Debian-style architecture (amd64, arm64)
#     OUT      output directory         WORK     a scratch directory, removed on exit
#     DOCS     a directory with completions/ and man/ for exactly this binary

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

pkg_die() {
  echo "error: $*" >&2
  exit 1
}

pkg_init() {
  BIN=""
  OUT="$REPO/dist"
  while [ $# -gt 0 ]; do
    case "$1" in
      --bin) BIN=${2:?--bin needs a path}; shift 2 ;;
      --bin=*) BIN=${1#--bin=}; shift ;;
      --out) OUT=${2:?--out needs a directory}; shift 2 ;;
      --out=*) OUT=${1#--out=}; shift ;;
      -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
      *) pkg_die "unknown argument: $1" ;;
    esac
  done
  if [ -z "$BIN" ]; then
    BIN=$("$REPO/scripts/build-static")
  fi
  [ -x "$BIN" ] || pkg_die "$BIN is not an executable"
  BIN=$(realpath "$BIN")

  # Only a static binary may be packaged: the same file runs inside containers.
  # (ldd exits 1 on a non-PIE static binary: read its words, not its status.)
  linkage=$(LC_ALL=C ldd "$BIN" 2>&1 || true)
  if ! grep -Eq 'not a dynamic executable|statically linked' <<<"$linkage"; then
    pkg_die "$BIN is dynamically linked; build it with scripts/build-static"
  fi

  VERSION=$("$BIN" docker-cli-plugin-metadata | sed -n 's/.*"Version":"\([^"]*\)".*/\1/p')
  [ -n "$VERSION" ] || pkg_die "$BIN does not report a version"

  case "$(od -An -tu2 -j18 -N2 "$BIN" | tr -d ' ')" in
    62) ARCH=amd64 ;;
    183) ARCH=arm64 ;;
    *) pkg_die "$BIN: unsupported architecture" ;;
  esac

  # Reproducible archives: file times are the last commit's.
  export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct 2>/dev/null || date +%s)}

  mkdir -p "$OUT"
  OUT=$(realpath "$OUT")
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/docker-link-pkg.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT

  # The binary writes the completions and man pages of its own command tree, so they always
  # match what is packaged; the committed copies are the fallback.
  DOCS="$WORK/docs"
  if ! "$BIN" generate --out "$DOCS" >/dev/null 2>&1; then
    [ -d "$REPO/completions" ] && [ -d "$REPO/man" ] ||
      pkg_die "$BIN cannot generate completions and man pages, and the repository has none"
    mkdir -p "$DOCS"
    cp -r "$REPO/completions" "$REPO/man" "$DOCS/"
  fi
  for f in completions/docker-link.bash completions/_docker-link completions/docker-link.fish \
           man/docker-link.1; do
    [ -f "$DOCS/$f" ] || pkg_die "missing $f"
  done
}

# The names the binary is linked under, besides docker-link itself.
PKG_LINKS=(docker-ls docker-proxy docker-net docker-init)

# pkg_stage ROOT LIBEXEC ZSH_DIR: lays out a system install under ROOT: the binary and its
# four symlinks in LIBEXEC (a cli-plugins directory: docker-init and docker-proxy must never be
# anywhere dockerd looks for its own helpers), completions, and gzipped man pages.
pkg_stage() {
  local root=$1 plugins=$2 zsh_dir=$3
  install -d -m 0755 "$root$plugins" "$root/usr/share/bash-completion/completions" \
    "$root$zsh_dir" "$root/usr/share/fish/vendor_completions.d" "$root/usr/share/man/man1"
  install -m 0755 "$BIN" "$root$plugins/docker-link"
  local l
  for l in "${PKG_LINKS[@]}"; do
    ln -s docker-link "$root$plugins/$l"
  done
  install -m 0644 "$DOCS/completions/docker-link.bash" \
    "$root/usr/share/bash-completion/completions/docker-link"
  install -m 0644 "$DOCS/completions/_docker-link" "$root$zsh_dir/_docker-link"
  install -m 0644 "$DOCS/completions/docker-link.fish" \
    "$root/usr/share/fish/vendor_completions.d/docker-link.fish"
  local page
  for page in "$DOCS"/man/*.1; do
    gzip -9nc "$page" >"$root/usr/share/man/man1/$(basename "$page").gz"
    chmod 0644 "$root/usr/share/man/man1/$(basename "$page").gz"
  done
}
