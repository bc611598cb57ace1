#!/usr/bin/env bash
# Builds the images the tests and benchmarks need, without a registry: `docker import` of root
# filesystems assembled from this machine's files.
#
#   tests/images/build.sh busybox|redis|nginx|haproxy|all
#
# Prints the tag of each image built (or found). Tags carry a hash of this script and of the
# binaries that go in, so a change rebuilds and an unchanged image is reused.
#   busybox  static busybox (Debian busybox-static) with every applet linked; CMD sh
#   redis    busybox that EXPOSEs 6379/tcp and serves it (httpd), with PASSWORD in its env
#   nginx    Debian's nginx and the libraries ldd lists, its stream module, plus busybox,
#            the openssl client (the TLS tests' client) and socat (the udp streams' client);
#            CMD nginx -g 'daemon off;'
#   haproxy  Debian's haproxy and its libraries, plus busybox and the openssl client;
#            CMD haproxy -f /etc/haproxy/haproxy.cfg
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}
LABEL="docker-link.test-image=1"

die() { echo "build.sh: $*" >&2; exit 1; }
need() { [ -x "$1" ] || die "$1 is missing (install Debian package $2)"; }

hash_of() { cat "$0" "$@" | sha256sum | cut -c1-12; }

exists() { docker image inspect "$1" >/dev/null 2>&1; }

# A root filesystem with busybox and its applets, users, and the dirs a container expects.
base_rootfs() {
  local root=$1
  need "$BUSYBOX" busybox-static
  file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked' || die "$BUSYBOX is not static (install busybox-static)"
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,proc,sys,dev,run,var/run,var/log,var/lib}
  chmod 1777 "$root/tmp"
  cp "$BUSYBOX" "$root/bin/busybox"
  local applet
  for applet in $("$BUSYBOX" --list-full); do
    [ "$applet" = bin/busybox ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\nhaproxy:x:101:101:haproxy:/var/lib/haproxy:/bin/false\n' > "$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\nwww-data:x:33:\nhaproxy:x:101:\n' > "$root/etc/group"
}

# Copies a dynamic executable and every library ldd lists, keeping their paths.
copy_with_libs() {
  local root=$1 exe=$2 lib
  mkdir -p "$root/$(dirname "$exe")"
  cp "$exe" "$root/$exe"
  for lib in $(ldd "$exe" | grep -o '/[^ ]*'); do
    mkdir -p "$root/$(dirname "$lib")"
    cp -L "$lib" "$root/$lib"
  done
}

# The openssl command (TLS requests from inside a proxy container) and its configuration.
add_openssl() {
  local root=$1
  need /usr/bin/openssl openssl
  copy_with_libs "$root" /usr/bin/openssl
  mkdir -p "$root/usr/lib/ssl"
  cp -L /usr/lib/ssl/openssl.cnf "$root/usr/lib/ssl/"
}

import() {
  local root=$1 tag=$2; shift 2
  tar -C "$root" -c . | docker import "$@" --change "LABEL $LABEL" - "$tag" >/dev/null
}

build_busybox() {
  local tag="docker-link-test/busybox:$(hash_of "$BUSYBOX")"
  if ! exists "$tag"; then
    local root; root=$(mktemp -d); trap 'rm -rf "$root"' RETURN
    base_rootfs "$root"
    import "$root" "$tag" --change 'CMD ["sh"]'
  fi
  echo "$tag"
}

build_redis() {
  local tag="docker-link-test/redis:$(hash_of "$BUSYBOX")"
  if ! exists "$tag"; then
    local root; root=$(mktemp -d); trap 'rm -rf "$root"' RETURN
    base_rootfs "$root"
    mkdir -p "$root/www" && echo "+PONG" > "$root/www/index.html"
    import "$root" "$tag" --change 'EXPOSE 6379/tcp' --change 'ENV REDIS_VERSION=7.0-like' \
      --change 'CMD ["httpd", "-f", "-p", "6379", "-h", "/www"]'
  fi
  echo "$tag"
}

build_nginx() {
  need /usr/sbin/nginx "nginx-light (or nginx)"
  [ -e /usr/lib/nginx/modules/ngx_stream_module.so ] || die "nginx's stream module is missing (install Debian package libnginx-mod-stream)"
  need /usr/bin/socat socat
  local tag="docker-link-test/nginx:$(hash_of "$BUSYBOX" /usr/sbin/nginx /usr/bin/openssl /usr/lib/nginx/modules/ngx_stream_module.so /usr/bin/socat)"
  if ! exists "$tag"; then
    local root; root=$(mktemp -d); trap 'rm -rf "$root"' RETURN
    base_rootfs "$root"
    copy_with_libs "$root" /usr/sbin/nginx
    copy_with_libs "$root" /usr/bin/socat
    add_openssl "$root"
    # The stream module as Debian loads it (modules-enabled/, modules/ under the prefix).
    copy_with_libs "$root" /usr/lib/nginx/modules/ngx_stream_module.so
    mkdir -p "$root/etc/nginx/modules-enabled" "$root/usr/share/nginx"
    cp -L /etc/nginx/modules-enabled/50-mod-stream.conf "$root/etc/nginx/modules-enabled/"
    ln -s ../../lib/nginx/modules "$root/usr/share/nginx/modules"
    mkdir -p "$root/etc/nginx/conf.d" "$root/var/log/nginx" "$root/var/lib/nginx" "$root/usr/share/nginx/html"
    cp /etc/nginx/mime.types "$root/etc/nginx/"
    cat > "$root/etc/nginx/nginx.conf" <<'CONF'
user www-data;
worker_processes 1;
pid /run/nginx.pid;
error_log /dev/stderr;
events { worker_connections 256; }
http {
  include /etc/nginx/mime.types;
  access_log off;
  include /etc/nginx/conf.d/*.conf;
}
CONF
    cat > "$root/etc/nginx/conf.d/default.conf" <<'CONF'
server { listen 80 default_server; location / { return 200 "nginx ok\n"; } }
CONF
    import "$root" "$tag" --change 'EXPOSE 80/tcp' \
      --change 'CMD ["nginx", "-g", "daemon off;"]'
  fi
  echo "$tag"
}

build_haproxy() {
  need /usr/sbin/haproxy haproxy
  local tag="docker-link-test/haproxy:$(hash_of "$BUSYBOX" /usr/sbin/haproxy /usr/bin/openssl)"
  if ! exists "$tag"; then
    local root; root=$(mktemp -d); trap 'rm -rf "$root"' RETURN
    base_rootfs "$root"
    copy_with_libs "$root" /usr/sbin/haproxy
    add_openssl "$root"
    mkdir -p "$root/etc/haproxy" "$root/var/lib/haproxy"
    cat > "$root/etc/haproxy/haproxy.cfg" <<'CONF'
global
  maxconn 256
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend main
  bind :80
  http-request return status 200 content-type text/plain string "haproxy ok"
CONF
    import "$root" "$tag" --change 'EXPOSE 80/tcp' \
      --change 'CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]'
  fi
  echo "$tag"
}

case "${1:-}" in
  busybox) build_busybox ;;
  redis) build_redis ;;
  nginx) build_nginx ;;
  haproxy) build_haproxy ;;
  all) build_busybox; build_redis; build_nginx; build_haproxy ;;
  *) die "usage: $0 busybox|redis|nginx|haproxy|all" ;;
esac
