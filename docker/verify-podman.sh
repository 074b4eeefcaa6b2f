#!/bin/bash
# Verifies the image and the compose topology with podman, on a machine
# with no Docker engine and no registry of images (README, "Run in a
# container"). Needs Debian's podman, debootstrap, openssl; run as root.
#
#   docker/verify-podman.sh            # PROFILE=debug for a quicker build
#   IMAGE=localhost/overgang:full docker/verify-podman.sh   # an image built
#                                      # already (from docker/Dockerfile): steps 3-4
#
# 1. a base image: `debootstrap --variant=minbase bookworm` + `podman
#    import`, as localhost/debian:bookworm-slim (kept for the next run);
# 2. the runtime stage on host-built binaries (docker/build-local.sh);
# 3. the image as it is: TLS on 0.0.0.0:8443 in a network namespace of its
#    own, its HEALTHCHECK healthy, the process and the store's files uid
#    10001, a clean stop on SIGTERM;
# 4. the compose topology by hand: a `pod` container holding a private
#    network namespace, the two receivers, two gateways on
#    docker/gateway.toml and docker/registry.toml (each on its own
#    embedded store: no PostgreSQL backend yet), the demo EHR's command;
#    every message acknowledged, no dead letter.
#
# PODMAN_FLAGS and PODMAN_RUN_FLAGS: what podman and `podman run` need
# here. The defaults suit a sandbox without CAP_SYS_RESOURCE and with
# hybrid cgroups (crun refuses both): runc, and limits below the
# sandbox's own.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
base=localhost/debian:bookworm-slim
image=${IMAGE:-localhost/overgang:verify}
global=${PODMAN_FLAGS:---runtime runc}
runflags=${PODMAN_RUN_FLAGS:---ulimit nofile=1024:1024 --ulimit nproc=4096:4096}
work=$(mktemp -d)
# Dependents first: the pod goes last.
names=(ov-verify ov-gateway-1 ov-gateway-2 ov-receiver-kommune ov-receiver-sykehus ov-pod)
cleanup() {
  for n in "${names[@]}"; do podman rm -f -v "$n" >/dev/null 2>&1 || true; done
  podman volume rm ov-gateway-1-data ov-gateway-2-data >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n== %s\n' "$*"; }
# `podman run` with those flags; podman's complaints that there is no
# systemd to time health checks are left out (they are run by hand here).
# shellcheck disable=SC2086 # the flags are lists of options
run() { podman $global run $runflags "$@" 2> >(grep -v systemd >&2); }

say "base image $base"
if ! podman image exists "$base"; then
  nice -n 19 debootstrap --variant=minbase bookworm "$work/rootfs" >"$work/debootstrap.log"
  tar -C "$work/rootfs" -c . | podman import - "$base"
  rm -rf "$work/rootfs"
fi

if [ -z "${IMAGE:-}" ]; then
  say "runtime stage on host-built binaries"
  TAG=$image "$repo/docker/build-local.sh" --format docker --isolation chroot \
    --network host --build-arg "RUNTIME_IMAGE=$base"
fi
podman image inspect "$image" --format '{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Cmd}}'

say "the image as it is: TLS, health check, uid 10001"
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/tls/server.key.pem" -out "$work/tls/server.crt.pem" -days 1 \
  -subj /CN=gateway.example.no -addext subjectAltName=DNS:gateway.example.no 2>/dev/null
chmod 0644 "$work/tls/"*.pem
hash=$(grep -m1 '^token_hash' "$repo/docker/gateway.toml" | cut -d'"' -f2)
run -d --name ov-verify --network none \
  -v "$work/tls:/etc/overgang/tls:ro" \
  -v "$repo/docker/registry.toml:/etc/overgang/registry.toml:ro" \
  -e OVERGANG_SECURITY__PATIENT_KEY=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
  -e "OVERGANG_SYSTEMS=[{ name = \"ehr\", token_hash = \"$hash\", may_send_as = [\"990002\"] }]" \
  "$image" >/dev/null
for _ in $(seq 50); do podman healthcheck run ov-verify >/dev/null 2>&1 && break; sleep 0.2; done
podman healthcheck run ov-verify 2>/dev/null && echo "HEALTHCHECK: healthy"
podman exec ov-verify overgang healthcheck --config /etc/overgang/overgang.toml
uid=$(podman exec ov-verify sh -c 'awk "/^Uid:/ {print \$2}" /proc/1/status')
[ "$uid" = 10001 ] && echo "PID 1 runs as uid $uid"
podman exec ov-verify sh -c 'ls -ln /var/lib/overgang; command -v curl || echo "no curl in the image"'
podman stop -t 40 ov-verify >/dev/null 2>&1
code=$(podman inspect ov-verify --format '{{.State.ExitCode}}')
[ "$code" = 0 ] && echo "stopped on SIGTERM, exit 0"

say "the compose topology: one network namespace, two gateways, receivers, demo EHR"
net="--network container:ov-pod"
run -d --name ov-pod --network none --init --entrypoint sleep "$image" infinity >/dev/null
for r in kommune:9101 sykehus:9102; do
  # shellcheck disable=SC2086
  run -d --name "ov-receiver-${r%%:*}" $net "$image" \
    simulate receiver --listen "127.0.0.1:${r##*:}" --behaviour ok >/dev/null
done
for n in 1 2; do
  # shellcheck disable=SC2086
  run -d --name "ov-gateway-$n" $net -e "OVERGANG_SERVER__LISTEN=127.0.0.1:808$n" \
    -v "$repo/docker/gateway.toml:/etc/overgang/overgang.toml:ro" \
    -v "$repo/docker/registry.toml:/etc/overgang/registry.toml:ro" \
    -v "ov-gateway-$n-data:/var/lib/overgang" \
    "$image" serve --config /etc/overgang/overgang.toml >/dev/null
done
for n in 1 2; do
  for _ in $(seq 50); do podman healthcheck run "ov-gateway-$n" >/dev/null 2>&1 && break; sleep 0.2; done
  podman healthcheck run "ov-gateway-$n" 2>/dev/null && echo "gateway-$n: healthy"
done
podman exec ov-receiver-kommune overgang healthcheck --url http://127.0.0.1:9101/_sim/received
podman exec ov-receiver-sykehus overgang healthcheck --url http://127.0.0.1:9102/_sim/received
# The demo EHR's command, as compose.yaml gives it.
# shellcheck disable=SC2086
run --rm $net --entrypoint /bin/sh "$image" -c \
  'overgang-load --url http://127.0.0.1:8081 --token demo-ehr-token --requests 20 --concurrency 2 /usr/share/overgang/examples/ && overgang-load --url http://127.0.0.1:8082 --token demo-ehr-token --requests 20 --concurrency 2 /usr/share/overgang/examples/'
sleep 2
for n in 1 2; do
  stats=$(podman exec -e "OVERGANG_URL=http://127.0.0.1:808$n" -e OVERGANG_TOKEN=demo-ops-token \
    "ov-gateway-$n" overgang deliveries stats --json)
  echo "gateway-$n: $stats"
done
if ss -ltn | grep -qE ':(8081|8082|9101|9102) '; then
  echo "something listens on the host's 8081/8082/9101/9102 (not necessarily the pod's)"
else
  echo "nothing of the pod listens on the host"
fi
for n in ov-gateway-1 ov-gateway-2; do
  podman stop -t 40 "$n" >/dev/null 2>&1
  echo "$n: exit $(podman inspect "$n" --format '{{.State.ExitCode}}')"
done
say "done"
