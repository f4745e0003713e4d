#!/usr/bin/env bash
# Builds external-dns, at the version the root go.mod requires, into the path given (bin/external-dns),
# for the scenario that runs it beside the operator (test/integration/externaldns_test.go).
#
# `go build sigs.k8s.io/external-dns@<version>` does not work here: the module proxy refuses
# github.com/exoscale/egoscale/v3 and github.com/openshift/api. So the module's source is copied out of
# the module cache into a scratch folder, the two parts that need them (the Exoscale provider and the
# OpenShift Route source) are cut out, their modules are dropped from its go.mod, and the rest is built
# as it is. Every cut checks that it applied; a new external-dns version whose source moved fails here.
# A binary already built from the same version is kept.
set -euo pipefail

out="${1:?usage: build.sh <output binary>}"
repo="$(cd "$(dirname "$0")/../../.." && pwd)"
mkdir -p "$(dirname "$out")"
out="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
scratch="$(dirname "$out")/external-dns-src"
stamp="$out.version"

# The version and source folder of sigs.k8s.io/external-dns as the root module requires it.
info="$(cd "$repo" && GOWORK=off go mod download -json sigs.k8s.io/external-dns)"
field() { sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}$/\1/p" <<<"$info"; }
version="$(field Version)"
src="$(field Dir)"
if [[ -z "$version" || ! -d "$src" ]]; then
  echo "build.sh: could not locate sigs.k8s.io/external-dns in the module cache:" >&2
  echo "$info" >&2
  exit 1
fi

if [[ -x "$out" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
  echo "external-dns $version already built at $out"
  touch "$out"
  exit 0
fi

echo "building external-dns $version (without the Exoscale provider and the OpenShift Route source)"
rm -rf "$scratch"
cp -R "$src" "$scratch"
chmod -R u+w "$scratch"
cd "$scratch"

# cut FILE SED-ADDRESS: deletes the lines SED-ADDRESS selects, failing when it selects none.
cut() {
  local file="$1" address="$2" before
  before="$(cksum <"$file")"
  sed -i "${address}d" "$file"
  if [[ "$(cksum <"$file")" == "$before" ]]; then
    echo "build.sh: external-dns $version: '$address' matched nothing in $file; update the cuts" >&2
    exit 1
  fi
}
# gone PATH...: removes files or folders that must exist.
gone() {
  local p
  for p in "$@"; do
    if [[ ! -e "$p" ]]; then
      echo "build.sh: external-dns $version: $p does not exist; update the cuts" >&2
      exit 1
    fi
    rm -rf "$p"
  done
}

# The Exoscale provider (github.com/exoscale/egoscale/v3).
gone provider/exoscale
cut provider/factory/provider.go '\|^\t"sigs.k8s.io/external-dns/provider/exoscale"$|'
cut provider/factory/provider.go '/^\t\texternaldns.ProviderExoscale: *exoscale.New,$/'

# The OpenShift Route source (github.com/openshift/client-go, github.com/openshift/api).
gone source/openshift_route.go source/openshift_route_test.go source/openshift_route_fqdn_test.go
cut source/store.go '\|^\topenshift "github.com/openshift/client-go/route/clientset/versioned"$|'
cut source/store.go '/^\tOpenShiftClient() (openshift.Interface, error)$/'
cut source/store.go '/^\topenshiftClient  *openshift.Interface$/'
cut source/store.go '/^\/\/ OpenShiftClient generates/'
cut source/store.go '/^func (p \*SingletonClientGenerator) OpenShiftClient() /,/^}$/'
cut source/store.go '/^\tcase types.OpenShiftRoute:$/,+1'
cut source/store.go '/^func buildOpenShiftRouteSource(/,/^}$/'

# Nothing the binary builds may still import them. (internal/testutils and the tests are not built.)
left="$(grep -rlE '"github.com/(exoscale|openshift)/' --include='*.go' . | grep -vE '_test\.go$|^\./internal/testutils/|^\./tests/' || true)"
if [[ -n "$left" ]]; then
  echo "build.sh: external-dns $version: still importing the removed modules: $left" >&2
  exit 1
fi

go mod edit \
  -droprequire=github.com/exoscale/egoscale/v3 \
  -droprequire=github.com/openshift/api \
  -droprequire=github.com/openshift/client-go

# -mod=mod: go.sum gains what the smaller graph needs; everything else comes from the module proxy.
start=$SECONDS
GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build \
  -ldflags "-s -w -X sigs.k8s.io/external-dns/pkg/apis/externaldns.Version=$version" \
  -o "$out" .
echo "$version" >"$stamp"
echo "built external-dns $version at $out in $((SECONDS - start))s"
