#!/usr/bin/env bash
# STAND-IN, for a machine without access to a public image registry (never used in production):
# a Debian bookworm base image made with debootstrap from the Debian mirror this machine's apt
# already uses, imported into Docker as $1 (default frontline-standin/debian:bookworm). The
# stand-ins for python:3.11-slim, postgres:16 and redis:7 are built on it (deploy/standins/*/).
set -euo pipefail
TAG=${1:-frontline-standin/debian:bookworm}
LABEL=${2:-}  # the recipe's hash, from deploy/compose_smoke.py: a changed recipe is rebuilt

# The first Debian mirror in this machine's apt sources (deb822 or one-line), read now rather than
# written down, so the recipe works wherever apt works.
mirror() {
  local uri
  uri=$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
  if [[ -z $uri ]]; then
    uri=$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
          awk '$0 !~ /\[/ {print $2} $0 ~ /\[/ {print $3}' | grep -E '/debian/?$' | head -n1 || true)
  fi
  [[ -n $uri ]] || { echo "no Debian mirror in /etc/apt/sources.list*" >&2; exit 1; }
  echo "$uri"
}

command -v debootstrap >/dev/null || { echo "debootstrap is needed: apt-get install debootstrap" >&2; exit 1; }
root=$(mktemp -d /var/tmp/frontline-standin-root.XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 755 "$root"  # mktemp made it 0700: the image's / must be readable by every user
debootstrap --variant=minbase --include=ca-certificates bookworm "$root" "$(mirror)" >&2
# Keep the image small: no apt lists or package caches, and no documentation, as in Docker's
# debian:bookworm-slim.
cat > "$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
echo 'APT::Install-Recommends "false";' > "$root/etc/apt/apt.conf.d/docker-no-recommends"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
tar -C "$root" -c . |
  docker import --change 'CMD ["bash"]' --change "LABEL org.frontline.standin=$LABEL" - "$TAG" >/dev/null
echo "$TAG"
