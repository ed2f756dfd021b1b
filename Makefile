# istio-prometheus-mtls — see README.md.
BIN      := bin/istio-prometheus-mtls
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The same flags as the Dockerfile's build stage.
GOFLAGS_BUILD := -trimpath -ldflags "-s -w -buildid= -X main.version=$(VERSION)"
GOBIN    ?= $(shell go env GOPATH)/bin
IMAGE    ?= istio-prometheus-mtls:$(VERSION)

KUSTOMIZE_VERSION := v5.8.2
HELM_VERSION      := v3.19.5
HELM4_VERSION     := v4.3.1
PROMTOOL_VERSION  := v0.316.0
VMAGENT_VERSION   := v1.151.0

.PHONY: build test fuzz e2e demo demo-kpt image image-local helm-plugin dist schema bench fmt vet tools clean

build:
	CGO_ENABLED=0 go build $(GOFLAGS_BUILD) -o $(BIN) ./fn

# The test command README and .ci/run use (it also runs every runnable block of README.md and docs/): unit, golden, relabel and promtool tests.
# The pure packages (all but fn) read only what Go's test cache tracks (their
# code, the files they open, the environment): it reruns them when any of that
# changes. The fn package runs the real clients (kustomize, kpt, helm, docker,
# the scrapers' tools), which the cache cannot see: it always runs.
test: build tools
	go vet ./...
	PATH="$(GOBIN):$$PATH" go test -timeout 10m $$(go list ./... | grep -v '/fn$$')
	PATH="$(GOBIN):$$PATH" go test -count=1 -parallel 4 -timeout 30m ./fn
	$(MAKE) -j4 fuzz

# The fuzz targets, each for a fixed budget (FUZZTIME), side by side with one
# worker each: no input may make the function panic, fail on its own output,
# change items on error, or say more than 64 kB (the hostile-input suite bounds
# time and memory per class).
FUZZTIME ?= 4s
FUZZ_TARGETS := fuzz/fn/FuzzProcess fuzz/fn/FuzzEdit fuzz/fn/FuzzPostRender fuzz/transformers/scrapeconfig/FuzzSplice
.PHONY: $(FUZZ_TARGETS)
fuzz: $(FUZZ_TARGETS)
$(FUZZ_TARGETS):
	go test -count=1 -run '^$$' -fuzz '^$(notdir $@)$$' -fuzztime $(FUZZTIME) -parallel 1 ./$(patsubst fuzz/%/,%,$(dir $@))

# End to end with the real components (e2e/): etcd, kube-apiserver, istiod, Istio's
# agent and Prometheus; the first run builds them (minutes), later runs reuse them.
e2e:
	cd e2e && E2E_BIN="$$(./build.sh)" go test -count=1 -timeout 30m -v .

# Run the function on the bundled package (Istio's addon Prometheus) with only Go:
# the change as a unified diff of before and after, then the results in words.
demo: build
	go run ./hack/demo -fn ./$(BIN) -config examples/demo/fn-config.yaml examples/demo/package

# The same run through kpt (needs kpt on PATH): prints the whole transformed package.
demo-kpt: build
	kpt fn eval examples/demo/package --exec ./$(BIN) --fn-config examples/demo/fn-config.yaml -o unwrap

image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# Equivalent images built with no registry (FROM scratch + the static binaries).
image-local:
	VERSION=$(VERSION) hack/image-local.sh

# The Helm 4 post-renderer plugin, a directory and a .tgz per platform, in dist/
# (PLATFORMS="linux/amd64 ..." to choose).
helm-plugin:
	VERSION=$(VERSION) hack/helm-plugin.sh

# The release files in dist/: static binaries for every platform, the Helm plugin
# archives, the config schema and SHA256SUMS; reproducible.
dist:
	hack/dist.sh

# The function config's JSON Schema, generated from the Go types.
schema:
	go generate ./internal/schema

# Wall time and peak RSS against a no-op function and a bare YAML round trip.
bench:
	bench/run.sh
	go test -run '^$$' -bench . -benchmem ./transformers/... ./fn
	go test -run '^$$' -bench . -benchtime 3x ./bench/floor

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	go vet ./...

# Test tools, installed once from the Go module proxy (promtool takes minutes).
tools: $(GOBIN)/promtool $(GOBIN)/kustomize $(GOBIN)/helm $(GOBIN)/helm4 $(GOBIN)/actionlint $(GOBIN)/vmagent $(GOBIN)/otelcol
	@command -v kpt >/dev/null || { echo "kpt 1.0.0-beta.56 is needed on PATH"; exit 1; }

$(GOBIN)/promtool:
	go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

$(GOBIN)/kustomize:
	go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

$(GOBIN)/helm:
	go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# vmagent judges the vmagent goldens' edited configs (vmagent -dryRun).
$(GOBIN)/vmagent:
	CGO_ENABLED=0 go install github.com/VictoriaMetrics/VictoriaMetrics/app/vmagent@$(VMAGENT_VERSION)

# The OpenTelemetry Collector of e2e/otelcol (the contrib prometheus receiver v0.165.1
# and the components the collector chart's config names) judges the collector goldens
# (otelcol validate); rebuilt when its module changes.
$(GOBIN)/otelcol: e2e/otelcol/go.mod e2e/otelcol/main.go
	cd e2e/otelcol && CGO_ENABLED=0 go build -o $(GOBIN)/otelcol .

$(GOBIN)/actionlint:
	go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12

# Helm 4 beside Helm 3: installed to a scratch GOBIN, then renamed.
$(GOBIN)/helm4:
	d=$$(mktemp -d) && GOBIN=$$d go install helm.sh/helm/v4/cmd/helm@$(HELM4_VERSION) && mv $$d/helm $@ && rmdir $$d

clean:
	rm -rf bin dist
