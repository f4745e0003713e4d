#!/usr/bin/env bash
# helm lint (strict) and helm template over every values file in the chart's ci/ folder, the
# rendered objects checked against those values (test/chart: image or digest, env, envFrom,
# extraArgs accepted by the operator's flags, pod labels and annotations, topology spread,
# ServiceMonitor relabelings, the Grafana dashboard ConfigMap, the RBAC (a Role with watchNamespace,
# no update on Gateways, the roles of secure metrics); the schema refusing bad values), and
# the clear error when clusterName is missing. Usage: test/chart-check.sh <helm> <chart>
set -euo pipefail
helm="$1" chart="$2"
for values in "$chart"/ci/*.yaml; do
  "$helm" lint --strict "$chart" -f "$values" >/dev/null
  "$helm" template check "$chart" --namespace istio-alb-system -f "$values" >/dev/null
  echo "chart-check: lint and template pass with $(basename "$values")"
done
if ! out=$(HELM="$helm" go test -count=1 ./test/chart/ 2>&1); then
  echo "$out" >&2; echo "chart-check: the rendered objects do not carry the ci/ values" >&2; exit 1
fi
echo "chart-check: the rendered objects carry every ci/ value (go test ./test/chart passes)"
if out=$("$helm" template check "$chart" 2>&1); then
  echo "chart-check: rendering without clusterName must fail" >&2; exit 1
fi
grep -q "clusterName is required" <<<"$out" || { echo "chart-check: unclear error without clusterName: $out" >&2; exit 1; }
echo "chart-check: without clusterName rendering fails with: ${out#*: }" | head -c 300; echo
