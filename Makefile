# istio-alb-operator — build, test rig and demo. `make test` is what CI runs (through .ci/run).
SHELL := /bin/bash
BIN ?= $(CURDIR)/bin
K8S_BIN := $(BIN)/k8s
K8S_VERSION := v1.36.3
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=36
export AWS_ENDPOINT_URL ?= http://127.0.0.1:4566
export AWS_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= test
export AWS_SECRET_ACCESS_KEY ?= test
export KUBEBUILDER_ASSETS := $(K8S_BIN)
export ISTIO_ALB_EXTERNAL_DNS ?= $(BIN)/external-dns

# The operator's version (a tag, else the commit, -dirty with local changes): --version and
# istio_alb_build_info report it. IMAGE is the repository `make image` tags and `make image-push` pushes.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
IMAGE ?= istio-alb-operator

CHART := charts/istio-alb-operator
INSTALL_NAMESPACE := istio-alb-system

.PHONY: all build test unit bench demo control-plane external-dns aws-up aws-down vet fmt clean helm manifests chart-check image image-push docker-build iam-policy manifests-iam

all: build

build:
	go build -ldflags '$(LDFLAGS)' -o $(BIN)/istio-alb-operator ./cmd/istio-alb-operator

vet:
	go vet ./...

fmt:
	gofmt -l -w $$(git ls-files '*.go')

## control-plane: kube-apiserver and etcd built from Go modules (test/tools), once.
control-plane: $(K8S_BIN)/kube-apiserver $(K8S_BIN)/etcd

$(K8S_BIN)/etcd: test/tools/go.mod
	cd test/tools && go build -o $@ go.etcd.io/etcd/server/v3

$(K8S_BIN)/kube-apiserver: test/tools/go.mod
	cd test/tools && go build -ldflags '$(K8S_LDFLAGS)' -o $@ k8s.io/kubernetes/cmd/kube-apiserver

## helm: the helm command built from Go modules (test/tools/helm), once.
helm: $(BIN)/helm

$(BIN)/helm: test/tools/helm/go.mod
	cd test/tools/helm && go build -o $@ helm.sh/helm/v4/cmd/helm

## external-dns: external-dns at the version go.mod requires, for the scenario that runs it beside the
## operator; built once (test/tools/externaldns/build.sh leaves out what the module proxy refuses).
external-dns: $(BIN)/external-dns

$(BIN)/external-dns: go.mod test/tools/externaldns/build.sh
	test/tools/externaldns/build.sh $@

## manifests: manifests/install.yaml, the chart rendered with its defaults, as plain YAML.
manifests: $(BIN)/helm
	@{ echo "# Rendered from $(CHART) by 'make manifests'; do not edit. Set --cluster-name in the Deployment"; \
	   echo "# (here my-cluster) to your EKS cluster's name, and give the ServiceAccount the IAM policy in"; \
	   echo "# manifests/iam-policy.json (IRSA annotation or EKS Pod Identity)."; \
	   echo "apiVersion: v1"; echo "kind: Namespace"; echo "metadata:"; echo "  name: $(INSTALL_NAMESPACE)"; \
	   $(BIN)/helm template istio-alb-operator $(CHART) --namespace $(INSTALL_NAMESPACE) --set clusterName=my-cluster; \
	 } > manifests/install.yaml

## iam-policy: the IAM policy for your cluster on stdout (creates and changes only with its
## istio-alb.io/cluster tag; records only in the zones given, every zone without HOSTED_ZONE_IDS):
##   make -s iam-policy CLUSTER_NAME=<cluster> HOSTED_ZONE_IDS=Z1,Z2 > iam-policy.json
iam-policy:
	@go run ./cmd/istio-alb-operator iam-policy --cluster-name '$(CLUSTER_NAME)' --hosted-zone-ids '$(HOSTED_ZONE_IDS)'

## manifests-iam: manifests/iam-policy.json, the policy rendered for the placeholder cluster
## my-cluster (the name manifests/install.yaml uses); a unit test fails when it is stale.
manifests-iam:
	@mkdir -p $(BIN) && go run ./cmd/istio-alb-operator iam-policy --cluster-name my-cluster > $(BIN)/iam-policy.json && \
	  mv $(BIN)/iam-policy.json manifests/iam-policy.json

## chart-check: helm lint and template over the ci/ values matrix, the clusterName error, and
## manifests/install.yaml in sync with the chart.
chart-check: $(BIN)/helm
	@test/chart-check.sh $(BIN)/helm $(CHART)
	@cp manifests/install.yaml $(BIN)/install.yaml.committed && $(MAKE) -s manifests && \
	  if ! diff -u $(BIN)/install.yaml.committed manifests/install.yaml; then \
	    echo "manifests/install.yaml is not what the chart renders: run 'make manifests' and commit" >&2; exit 1; fi

## image: the operator's image $(IMAGE):$(VERSION), built from the Dockerfile with the version
## passed in (needs a Docker engine; not part of `make test`). image-push pushes it:
##   make image image-push IMAGE=<your-registry>/istio-alb-operator
image:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE):$(VERSION) .

image-push:
	docker push $(IMAGE):$(VERSION)

docker-build: image

## aws-up / aws-down: the LocalStack-compatible endpoint on 127.0.0.1:4566.
aws-up:
	localstack/up.sh

aws-down:
	localstack/down.sh

unit:
	go test ./...

## test: unit tests and the integration scenarios against the real API server and AWS endpoint.
test: control-plane helm $(BIN)/external-dns chart-check aws-up
	@set -o pipefail; trap 'localstack/down.sh' EXIT; mkdir -p $(BIN); \
	  go vet ./... && go test -count=1 -v -timeout 40m ./... > $(BIN)/test.log 2>&1; rc=$$?; \
	  grep -E '^(ok|FAIL|panic|--- FAIL)|^\s+\S+_test.go:[0-9]+:' $(BIN)/test.log; \
	  echo "$$(grep -cE '^\s*--- PASS' $(BIN)/test.log) passed, $$(grep -cE '^\s*--- FAIL' $(BIN)/test.log) failed, $$(grep -cE '^\s*--- SKIP' $(BIN)/test.log) skipped"; \
	  exit $$rc

## bench: per-gateway create and idle costs (5 runs each), then the fleet table at 1, 50 and 200
## gateways (BenchmarkScale, once: it prints the table).
bench: control-plane aws-up
	@trap 'localstack/down.sh' EXIT; \
	  go test -run '^$$' -bench 'BenchmarkGatewayToALB|BenchmarkIdleReconcile' -benchtime 5x -timeout 30m ./test/integration/ && \
	  go test -run '^$$' -bench 'BenchmarkScale' -benchtime 1x -timeout 60m ./test/integration/

## demo: the article's objects against the local control plane and AWS endpoint.
demo: control-plane aws-up
	@trap 'localstack/down.sh' EXIT; go run ./test/demo

clean:
	rm -rf $(BIN) localstack/.venv localstack/.run
