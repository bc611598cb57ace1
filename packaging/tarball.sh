#!/usr/bin/env bash
# Builds the release tarball dist/docker-link-<version>-linux-<arch>.tar.gz (with a .sha256
# beside it) and the Homebrew formula for it, dist/docker-link.rb.
#
#   packaging/tarball.sh [--bin PATH] [--out DIR]
#
# The tarball holds one directory, docker-link-<version>-linux-<arch>/, with the static binary,
# install.sh, completions/ and man/. Users run `./install.sh` from it (or
# `packaging/install.sh <tarball>`). Prints the tarball's path.
source "$(dirname "$0")/lib.sh"
pkg_init "$@"

name="docker-link-$VERSION-linux-$ARCH"
top="$WORK/$name"
install -d -m 0755 "$top" "$top/completions" "$top/man"
install -m 0755 "$BIN" "$top/docker-link"
install -m 0755 "$REPO/packaging/install.sh" "$top/install.sh"
install -m 0644 "$DOCS"/completions/* "$top/completions/"
install -m 0644 "$DOCS"/man/*.1 "$top/man/"
install -m 0644 "$REPO/README.md" "$top/README.md"

tarball="$OUT/$name.tar.gz"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" \
  -C "$WORK" -cf - "$name" | gzip -9n >"$tarball"
(cd "$OUT" && sha256sum "$name.tar.gz" >"$name.tar.gz.sha256")

sha=$(cut -d' ' -f1 "$tarball.sha256")
sed -e "s/@VERSION@/$VERSION/g" -e "s/@SHA256@/$sha/g" -e "s/@ARCH@/$ARCH/g" \
  "$REPO/packaging/homebrew/docker-link.rb" >"$OUT/docker-link.rb"
echo "$tarball"
