#!/usr/bin/env bash
# Builds the function image and the Argo CD plugin sidecar image with no pulls: the
# static binaries are built on the host exactly as the Dockerfile's build stages do,
# then copied into FROM scratch images with the Dockerfile's USER, ENTRYPOINT and
# labels, plus the passwd entries distroless has (kustomize runs functions as nobody).
# TestDockerfileDrift fails when this script and the Dockerfile disagree.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}"
IMAGE="${IMAGE:-ghcr.io/istio-prometheus-mtls/istio-prometheus-mtls:v0.1.0}"
CMP_IMAGE="${CMP_IMAGE:-ghcr.io/istio-prometheus-mtls/argocd-cmp:v0.1.0}"
KUSTOMIZE_VERSION=v5.8.2

# Keep in step with the Dockerfile (checked by TestDockerfileDrift).
BUILD_FLAGS=(-trimpath -ldflags "-s -w -buildid= -X main.version=${VERSION}")
FN_USER="65532:65532"
CMP_USER="999:999"
ENTRYPOINT='["/usr/local/bin/istio-prometheus-mtls"]'

ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/etc"
CGO_ENABLED=0 go build "${BUILD_FLAGS[@]}" -o "$ctx/istio-prometheus-mtls" ./fn
# kustomize is installed into a cache by version: go install finds it up to date
# there and does not link it again.
kcache="${XDG_CACHE_HOME:-$HOME/.cache}/istio-prometheus-mtls/kustomize-${KUSTOMIZE_VERSION}"
mkdir -p "$kcache"
CGO_ENABLED=0 GOBIN="$kcache" go install -trimpath "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
cp "$kcache/kustomize" "$ctx/kustomize"
cp examples/argocd/plugin.yaml "$ctx/plugin.yaml"
cat > "$ctx/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
argocd:x:999:999:argocd:/home/argocd:/sbin/nologin
PASSWD
cat > "$ctx/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
nonroot:x:65532:
argocd:x:999:
GROUP

cat > "$ctx/Dockerfile.fn" <<DOCKERFILE
FROM scratch
LABEL org.opencontainers.image.title="istio-prometheus-mtls" \\
      org.opencontainers.image.description="KRM function: Istio mTLS certificates and an https scrape job for Prometheus" \\
      org.opencontainers.image.licenses="Apache-2.0"
COPY etc/passwd etc/group /etc/
COPY istio-prometheus-mtls /usr/local/bin/istio-prometheus-mtls
USER ${FN_USER}
ENTRYPOINT ${ENTRYPOINT}
DOCKERFILE

cat > "$ctx/Dockerfile.cmp" <<DOCKERFILE
FROM scratch
COPY etc/passwd etc/group /etc/
COPY istio-prometheus-mtls /usr/local/bin/istio-prometheus-mtls
COPY kustomize /usr/local/bin/kustomize
COPY plugin.yaml /home/argocd/cmp-server/config/plugin.yaml
ENV PATH=/usr/local/bin
USER ${CMP_USER}
DOCKERFILE

docker build -q -f "$ctx/Dockerfile.fn" -t "$IMAGE" "$ctx" >/dev/null
docker build -q -f "$ctx/Dockerfile.cmp" -t "$CMP_IMAGE" "$ctx" >/dev/null
# The function image for every platform of IMAGE_PLATFORMS as well, tagged
# $IMAGE-ARCH (one tag per platform: the engine's classic image store holds no
# manifest lists; a registry push with buildx makes the multi-platform image). The
# classic builder and `docker import` build for the engine's own platform only, so
# each image is written as a `docker save` archive (one layer, a config naming its
# platform and the Dockerfile's user, entrypoint and labels) and loaded.
for platform in ${IMAGE_PLATFORMS:-linux/amd64 linux/arm64}; do
  os="${platform%/*}" arch="${platform#*/}"
  root="$ctx/rootfs-$arch" img="$ctx/image-$arch"
  mkdir -p "$root/etc" "$root/usr/local/bin" "$img"
  cp "$ctx/etc/passwd" "$ctx/etc/group" "$root/etc/"
  if [ "$platform" = "$(go env GOOS)/$(go env GOARCH)" ]; then
    cp "$ctx/istio-prometheus-mtls" "$root/usr/local/bin/" # the same build as above
  else
    CGO_ENABLED=0 GOOS="$os" GOARCH="$arch" go build "${BUILD_FLAGS[@]}" -o "$root/usr/local/bin/istio-prometheus-mtls" ./fn
  fi
  tar -C "$root" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$img/layer.tar" etc usr
  diff_id="sha256:$(sha256sum < "$img/layer.tar" | cut -d' ' -f1)"
  cat > "$img/config.json" <<CONFIG
{"architecture":"$arch","os":"$os","config":{"User":"${FN_USER}","Entrypoint":${ENTRYPOINT},"Labels":{"org.opencontainers.image.title":"istio-prometheus-mtls","org.opencontainers.image.description":"KRM function: Istio mTLS certificates and an https scrape job for Prometheus","org.opencontainers.image.licenses":"Apache-2.0"}},"rootfs":{"type":"layers","diff_ids":["$diff_id"]},"history":[{"created_by":"hack/image-local.sh"}]}
CONFIG
  printf '[{"Config":"config.json","RepoTags":["%s"],"Layers":["layer.tar"]}]\n' "$IMAGE-$arch" > "$img/manifest.json"
  tar -C "$img" -cf - manifest.json config.json layer.tar | docker load -q >/dev/null
  printf '%s\t%s\t%s bytes\n' "$IMAGE-$arch" "$platform" "$(docker image inspect -f '{{.Size}}' "$IMAGE-$arch")"
done
for i in "$IMAGE" "$CMP_IMAGE"; do
  printf '%s\t%s bytes\n' "$i" "$(docker image inspect -f '{{.Size}}' "$i")"
done
