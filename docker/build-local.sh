#!/bin/sh
# Builds the image from binaries built on this machine (docker/Dockerfile.local),
# for a machine that cannot pull the Rust image. Debian 12 hosts only (the
# binaries must run on the base image's glibc).
#
#   docker/build-local.sh [BUILD-OPTIONS...]
#
# Environment: CONTAINER_TOOL (podman; or buildah bud, docker), TAG
# (overgang:local), CARGO_TARGET_DIR (./target). Options are passed to the
# build tool, e.g. --build-arg RUNTIME_IMAGE=localhost/debian:bookworm-slim
# for a base image made with debootstrap (README, "Run in a container").
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
tool=${CONTAINER_TOOL:-podman}
tag=${TAG:-overgang:local}

(cd "$repo" && CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2} nice -n 19 \
  cargo build --release --locked -p overgang -p overgang-load)

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/bin" "$ctx/docker" "$ctx/schemas"
cp "$target/release/overgang" "$target/release/overgang-load" "$ctx/bin/"
cp "$repo/docker/overgang.toml" "$ctx/docker/"
cp -r "$repo/schemas/examples" "$ctx/schemas/"
# shellcheck disable=SC2086 # CONTAINER_TOOL may be two words (buildah bud)
nice -n 19 $tool build -f "$repo/docker/Dockerfile.local" -t "$tag" "$@" "$ctx"
