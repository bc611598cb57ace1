#!/usr/bin/env bash
# Builds dist/docker-link-<version>-1.x86_64.rpm from the release tarball, with rpmbuild and a
# local topdir (nothing is written outside the scratch directory and dist/).
#
#   packaging/rpm/build.sh [--bin PATH] [--out DIR]
#
# Makes the tarball first (packaging/tarball.sh) from the same binary. Prints the .rpm's path.
source "$(dirname "$0")/../lib.sh"
pkg_init "$@"
[ "$ARCH" = amd64 ] || pkg_die "the spec packages x86_64 only"
command -v rpmbuild >/dev/null || pkg_die "rpmbuild is not installed (Debian: apt-get install rpm)"

tarball=$("$REPO/packaging/tarball.sh" --bin "$BIN" --out "$OUT")
top="$WORK/rpmbuild"
mkdir -p "$top/SOURCES" "$top/SPECS"
cp "$tarball" "$top/SOURCES/"
cp "$REPO/packaging/rpm/docker-link.spec" "$top/SPECS/"
rpmbuild -bb --quiet \
  --define "_topdir $top" \
  --define "dl_version $VERSION" \
  --define "_rpmdir $top/RPMS" \
  --define "use_source_date_epoch_as_buildtime 1" \
  --define "clamp_mtime_to_source_date_epoch 1" \
  "$top/SPECS/docker-link.spec" >&2
rpm=$(find "$top/RPMS" -name "docker-link-$VERSION-*.rpm" | head -n1)
[ -n "$rpm" ] || pkg_die "rpmbuild made no package"
cp "$rpm" "$OUT/"
echo "$OUT/$(basename "$rpm")"
