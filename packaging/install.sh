#!/bin/sh
# Installs docker-link from a release tarball for the current user.
#
#   ./install.sh [--dir DIR] [--force] [--no-extras]              from the unpacked tarball
#   install.sh [--dir DIR] [--force] [--no-extras] TARBALL        from the .tar.gz itself
#
# The plugin is installed by the binary itself (`docker-link install`): into --dir, else
# $DOCKER_CONFIG/cli-plugins, else ~/.docker/cli-plugins, with the symlinks docker-ls,
# docker-proxy, docker-net and docker-init (a docker-init that is not ours is kept unless
# --force). Completions and man pages go to the user's data directories unless --no-extras.
# A TARBALL with a .sha256 file beside it is checked first.
set -eu

die() {
  echo "error: $*" >&2
  exit 1
}

dir_args=""
force=""
extras=1
tarball=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; dir_args="$2"; shift 2 ;;
    --dir=*) dir_args="${1#--dir=}"; shift ;;
    --force) force=--force; shift ;;
    --no-extras) extras=0; shift ;;
    -h|--help) sed -n '2,/^$/s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) die "unknown option: $1" ;;
    *) [ -z "$tarball" ] || die "one tarball at a time"; tarball="$1"; shift ;;
  esac
done

work=""
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM

if [ -n "$tarball" ]; then
  [ -f "$tarball" ] || die "$tarball: no such file"
  if [ -f "$tarball.sha256" ]; then
    want=$(cut -d' ' -f1 "$tarball.sha256")
    got=$(sha256sum "$tarball" | cut -d' ' -f1)
    [ "$want" = "$got" ] || die "$tarball does not match $tarball.sha256"
    echo "verified $tarball (sha256 $got)" >&2
  fi
  work=$(mktemp -d "${TMPDIR:-/tmp}/docker-link-install.XXXXXX")
  tar -xzf "$tarball" -C "$work"
  set -- "$work"/docker-link-*/docker-link
  [ $# -eq 1 ] && [ -f "$1" ] || die "$tarball is not a docker-link release tarball"
  src=$(dirname "$1")
else
  src=$(cd "$(dirname "$0")" && pwd)
fi
bin="$src/docker-link"
[ -x "$bin" ] || die "no docker-link beside $0 (give the release tarball as an argument)"
"$bin" docker-cli-plugin-metadata >/dev/null 2>&1 ||
  die "$bin does not run on this machine ($(uname -m))"

if [ -n "$dir_args" ]; then
  "$bin" install --dir "$dir_args" $force
else
  "$bin" install $force
fi

[ "$extras" = 1 ] || exit 0
data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
put() { # put SOURCE DEST
  mkdir -p "$(dirname "$2")"
  cp "$1" "$2.tmp.$$" && chmod 0644 "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
  echo "installed $2" >&2
}
if [ -d "$src/completions" ]; then
  put "$src/completions/docker-link.bash" "$data/bash-completion/completions/docker-link"
  put "$src/completions/docker-link.fish" "$config/fish/completions/docker-link.fish"
  put "$src/completions/_docker-link" "$data/zsh/site-functions/_docker-link"
  echo "zsh: add $data/zsh/site-functions to fpath to complete docker-link" >&2
fi
if [ -d "$src/man" ]; then
  for page in "$src"/man/*.1; do
    mkdir -p "$data/man/man1"
    cp "$page" "$data/man/man1/" && chmod 0644 "$data/man/man1/$(basename "$page")"
  done
  echo "installed $(ls "$src"/man/*.1 | wc -l | tr -d ' ') man pages in $data/man/man1" >&2
fi
