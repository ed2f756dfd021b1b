# syntax=docker/dockerfile:1
# The function image: a static binary on distroless, non-root, no shell.
# Build: docker build --build-arg VERSION=$(git describe --tags --always) -t istio-prometheus-mtls .
FROM golang:1.26 AS build
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY fn ./fn
COPY transformers ./transformers
COPY internal ./internal
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
    -o /out/istio-prometheus-mtls ./fn

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.title="istio-prometheus-mtls" \
      org.opencontainers.image.description="KRM function: Istio mTLS certificates and an https scrape job for Prometheus" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/istio-prometheus-mtls /usr/local/bin/istio-prometheus-mtls
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/istio-prometheus-mtls"]
