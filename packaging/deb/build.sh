#!/usr/bin/env bash
# Builds dist/docker-link_<version>_<arch>.deb from the static binary, with dpkg-deb only.
#
#   packaging/deb/build.sh [--bin PATH] [--out DIR]
#
# The package puts the binary in /usr/libexec/docker/cli-plugins/ (where distribution packages
# of compose and buildx go) with the symlinks docker-ls, docker-proxy, docker-net and
# docker-init, plus bash/zsh/fish completions and man pages. It prints the .deb's path.
source "$(dirname "$0")/../lib.sh"
pkg_init "$@"

root="$WORK/root"
pkg_stage "$root" /usr/libexec/docker/cli-plugins /usr/share/zsh/vendor-completions

doc="$root/usr/share/doc/docker-link"
install -d -m 0755 "$doc"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: docker-link
Source: https://github.com/docker-link/docker-link

Files: *
Copyright: the docker-link authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
chmod 0644 "$doc/copyright"

installed_size=$(du -sk --apparent-size "$root" | cut -f1)
install -d -m 0755 "$root/DEBIAN"
cat >"$root/DEBIAN/control" <<CONTROL
Package: docker-link
Version: $VERSION
Architecture: $ARCH
Maintainer: docker-link maintainers <maintainers@docker-link.invalid>
Installed-Size: $installed_size
Recommends: docker-ce-cli | docker.io | docker-cli
Section: admin
Priority: optional
Homepage: https://github.com/docker-link/docker-link
Description: Docker CLI plugin: container names and links, proxy, networks, init
 One static binary installed as five docker commands: docker link (extra names
 and parent/child links with the classic link environment variables and DNS),
 docker ls (names and link paths), docker proxy (nginx or haproxy configured
 from container labels), docker net (declarative links, bridges and tunnels)
 and docker init (a PID 1 for containers).
CONTROL
chmod 0644 "$root/DEBIAN/control"

deb="$OUT/docker-link_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
