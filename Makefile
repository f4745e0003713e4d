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

.PHONY: all build test unit bench demo control-plane aws-up aws-down vet fmt clean

all: build

build:
	go build -o $(BIN)/istio-alb-operator ./cmd/istio-alb-operator

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

## aws-up / aws-down: the LocalStack-compatible endpoint on 127.0.0.1:4566.
aws-up:
	localstack/up.sh

aws-down:
	localstack/down.sh

unit:
	go test ./...

## test: unit tests and the integration scenarios against the real API server and AWS endpoint.
test: control-plane aws-up
	@set -o pipefail; trap 'localstack/down.sh' EXIT; mkdir -p $(BIN); \
	  go vet ./... && go test -count=1 -v -timeout 40m ./... > $(BIN)/test.log 2>&1; rc=$$?; \
	  grep -E '^(ok|FAIL|panic|--- FAIL)|^\s+\S+_test.go:[0-9]+:' $(BIN)/test.log; \
	  echo "$$(grep -cE '^\s*--- PASS' $(BIN)/test.log) passed, $$(grep -cE '^\s*--- FAIL' $(BIN)/test.log) failed, $$(grep -cE '^\s*--- SKIP' $(BIN)/test.log) skipped"; \
	  exit $$rc

bench: control-plane aws-up
	@trap 'localstack/down.sh' EXIT; \
	  go test -run '^$$' -bench . -benchtime 5x -timeout 30m ./test/integration/

## demo: the article's objects against the local control plane and AWS endpoint.
demo: control-plane aws-up
	@trap 'localstack/down.sh' EXIT; go run ./test/demo

clean:
	rm -rf $(BIN) localstack/.venv localstack/.run
