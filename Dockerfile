# syntax=docker/dockerfile:1
# Two images:
#   docker build -t istio-prometheus-mtls .                      the KRM function (default)
#   docker build --target argocd-cmp -t istio-prometheus-mtls-argocd-cmp .
#                                                                Argo CD plugin sidecar
# Multi-platform with buildx (the Go stages run on the build platform and cross-compile):
#   docker buildx build --platform linux/amd64,linux/arm64 -t REGISTRY/istio-prometheus-mtls:TAG --push .
# hack/image-local.sh builds equivalents offline (FROM scratch); TestDockerfileDrift keeps
# the two in step.
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY fn ./fn
COPY transformers ./transformers
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go build -trimpath -ldflags "-s -w -buildid= -X main.version=${VERSION}" -o /out/istio-prometheus-mtls ./fn

FROM --platform=$BUILDPLATFORM golang:1.26 AS kustomize
ARG TARGETOS=linux
ARG TARGETARCH=amd64
# go install puts a cross-compiled binary in bin/GOOS_GOARCH/ (GOBIN is refused then).
RUN CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} go install -trimpath sigs.k8s.io/kustomize/kustomize/v5@v5.8.2 && \
    mkdir /out && find /go/bin -name kustomize -type f -exec cp {} /out/kustomize \;

# The Argo CD config management plugin sidecar: kustomize and the function on PATH,
# plugin.yaml where argocd-cmp-server reads it; no shell.
FROM gcr.io/distroless/static-debian12:nonroot AS argocd-cmp
COPY --from=build /out/istio-prometheus-mtls /usr/local/bin/istio-prometheus-mtls
COPY --from=kustomize /out/kustomize /usr/local/bin/kustomize
COPY examples/argocd/plugin.yaml /home/argocd/cmp-server/config/plugin.yaml
USER 999:999

# The function image: a static binary on distroless, non-root, no shell.
FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="istio-prometheus-mtls" \
      org.opencontainers.image.description="KRM function: Istio mTLS certificates and an https scrape job for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/istio-prometheus-mtls /usr/local/bin/istio-prometheus-mtls
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/istio-prometheus-mtls"]
