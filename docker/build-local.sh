#!/bin/sh
# Builds the image from binaries built on this machine (docker/Dockerfile.local),
# for a machine that cannot pull the Rust image. Debian 12 hosts only (the
# binaries must run on the base image's glibc).
#
#   docker/build-local.sh [BUILD-OPTIONS...]
#
# Environment: CONTAINER_TOOL (podman; or buildah bud, docker), TAG
# (overgang:local), CARGO_TARGET_DIR (./target), PROFILE (release; debug
# for a quick try). Options are passed to the
# build tool, e.g. --build-arg RUNTIME_IMAGE=localhost/debian:bookworm-slim
# for a base image made with debootstrap (README, "Run in a container").
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
tool=${CONTAINER_TOOL:-podman}
tag=${TAG:-overgang:local}
profile=${PROFILE:-release}
case "$profile" in
  release) flag=--release ;;
  debug) flag= ;;
  *) echo "PROFILE is release or debug" >&2; exit 2 ;;
esac

# shellcheck disable=SC2086 # $flag is empty for debug
(cd "$repo" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} nice -n 19 \
  cargo build $flag --locked -p overgang -p overgang-load)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/docker" "$ctx/schemas"
for b in overgang overgang-load; do
  # Debug information stays on the host; the image gets the code.
  strip --strip-debug -o "$ctx/bin/$b" "$target/$profile/$b"
done
cp "$repo/docker/overgang.toml" "$ctx/docker/"
cp -r "$repo/schemas/examples" "$ctx/schemas/"
# shellcheck disable=SC2086 # CONTAINER_TOOL may be two words (buildah bud)
nice -n 19 $tool build -f "$repo/docker/Dockerfile.local" -t "$tag" "$@" "$ctx"
