// Package chart_test renders the Helm chart with every values file of its ci/ matrix and checks
// that the objects carry what the values ask for. `make chart-check` runs it with the helm it
// built (HELM); `go test ./...` runs it when bin/helm exists and skips it otherwise.
package chart_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const namespace = "istio-alb-system"

func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var chartDir = filepath.Join(root(), "charts", "istio-alb-operator")

// helm is the helm command: $HELM, else bin/helm (`make helm`).
func helm(t *testing.T) string {
	t.Helper()
	path := os.Getenv("HELM")
	if path == "" {
		path = filepath.Join(root(), "bin", "helm")
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("ISTIO_ALB_REQUIRE_RIG") == "1" {
			t.Fatalf("helm not found at %s (run `make helm`)", path)
		}
		t.Skipf("helm not found at %s; `make chart-check` builds it", path)
	}
	return path
}

// values are the chart values the checks read: the chart's values.yaml with a ci file over it
// (maps merge and lists replace, as in Helm).
type values struct {
	Image struct {
		Repository, Tag, Digest string
	}
	Env                       []corev1.EnvVar
	EnvFrom                   []corev1.EnvFromSource
	ExtraArgs                 []string
	TopologySpreadConstraints []corev1.TopologySpreadConstraint
	PodLabels                 map[string]string
	PodAnnotations            map[string]string
	WatchNamespace            string
	Metrics                   struct {
		Secure         bool
		ServiceMonitor struct {
			Enabled                        bool
			Relabelings, MetricRelabelings []map[string]any
		}
	}
	Grafana struct {
		Dashboard struct {
			Enabled                      bool
			Label, LabelValue, Namespace string
			Annotations                  map[string]string
		}
	}
}

func readValues(t *testing.T, files ...string) values {
	t.Helper()
	var v values
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := utilyaml.Unmarshal(data, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return v
}

// render runs helm template and returns the objects by kind/name.
func render(t *testing.T, args ...string) map[string]*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(helm(t), append([]string{"template", "check", chartDir, "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr.String())
	}
	objs := map[string]*unstructured.Unstructured{}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(out), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("rendered YAML: %v", err)
		}
		if len(u.Object) > 0 {
			objs[u.GetKind()+"/"+u.GetName()] = u
		}
	}
	return objs
}

func convert[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	data, err := json.Marshal(u.Object)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return &out
}

// same compares after a JSON round trip, so nil and empty agree and numbers compare as numbers.
func same(a, b any) bool {
	norm := func(x any) any {
		data, _ := json.Marshal(x)
		var out any
		_ = json.Unmarshal(data, &out)
		if l, ok := out.([]any); ok && len(l) == 0 {
			return nil
		}
		return out
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func ciFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci values files: %v", err)
	}
	return files
}

func TestTheRenderedObjectsCarryEveryValueOfTheCIMatrix(t *testing.T) {
	helm(t)
	chartMeta := struct{ AppVersion string }{}
	data, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := utilyaml.Unmarshal(data, &chartMeta); err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join(chartDir, "dashboards", "istio-alb-operator.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range ciFiles(t) {
		t.Run(filepath.Base(file), func(t *testing.T) {
			v := readValues(t, filepath.Join(chartDir, "values.yaml"), file)
			objs := render(t, "-f", file)
			u, ok := objs["Deployment/check-istio-alb-operator"]
			if !ok {
				t.Fatalf("no Deployment rendered: %v", slices.Sorted(maps.Keys(objs)))
			}
			d := convert[appsv1.Deployment](t, u)
			if len(d.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("want one container, got %d", len(d.Spec.Template.Spec.Containers))
			}
			c := d.Spec.Template.Spec.Containers[0]

			wantImage := v.Image.Repository + ":" + v.Image.Tag
			if v.Image.Tag == "" {
				wantImage = v.Image.Repository + ":" + chartMeta.AppVersion
			}
			if v.Image.Digest != "" {
				wantImage = v.Image.Repository + "@" + v.Image.Digest
			}
			if c.Image != wantImage {
				t.Errorf("image %q, want %q", c.Image, wantImage)
			}
			if n := len(v.ExtraArgs); n > 0 && (len(c.Args) < n || !same(c.Args[len(c.Args)-n:], v.ExtraArgs)) {
				t.Errorf("args %q do not end with extraArgs %q", c.Args, v.ExtraArgs)
			}
			if !same(c.Env, v.Env) {
				t.Errorf("env %+v, want %+v", c.Env, v.Env)
			}
			if !same(c.EnvFrom, v.EnvFrom) {
				t.Errorf("envFrom %+v, want %+v", c.EnvFrom, v.EnvFrom)
			}
			pod := d.Spec.Template.ObjectMeta
			for k, want := range v.PodLabels {
				if pod.Labels[k] != want {
					t.Errorf("pod label %s=%q, want %q", k, pod.Labels[k], want)
				}
			}
			for k, want := range v.PodAnnotations {
				if pod.Annotations[k] != want {
					t.Errorf("pod annotation %s=%q, want %q", k, pod.Annotations[k], want)
				}
			}
			if !maps.Equal(d.Spec.Selector.MatchLabels, selectorOf(pod.Labels, d.Spec.Selector.MatchLabels)) {
				t.Errorf("pod labels %v lost the selector %v", pod.Labels, d.Spec.Selector.MatchLabels)
			}
			// A constraint without a labelSelector gets the pods' selector labels.
			wantSpread := make([]corev1.TopologySpreadConstraint, len(v.TopologySpreadConstraints))
			for i, tsc := range v.TopologySpreadConstraints {
				if tsc.LabelSelector == nil {
					tsc.LabelSelector = &metav1.LabelSelector{MatchLabels: d.Spec.Selector.MatchLabels}
				}
				wantSpread[i] = tsc
			}
			if !same(d.Spec.Template.Spec.TopologySpreadConstraints, wantSpread) {
				t.Errorf("topologySpreadConstraints %+v, want %+v", d.Spec.Template.Spec.TopologySpreadConstraints, wantSpread)
			}

			sm, ok := objs["ServiceMonitor/check-istio-alb-operator"]
			if ok != v.Metrics.ServiceMonitor.Enabled {
				t.Errorf("ServiceMonitor rendered %v, enabled %v", ok, v.Metrics.ServiceMonitor.Enabled)
			}
			if ok {
				endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
				if len(endpoints) != 1 {
					t.Fatalf("ServiceMonitor endpoints %v", endpoints)
				}
				ep := endpoints[0].(map[string]any)
				if !same(ep["relabelings"], v.Metrics.ServiceMonitor.Relabelings) || !same(ep["metricRelabelings"], v.Metrics.ServiceMonitor.MetricRelabelings) {
					t.Errorf("ServiceMonitor endpoint %v, want relabelings %v and metricRelabelings %v", ep, v.Metrics.ServiceMonitor.Relabelings, v.Metrics.ServiceMonitor.MetricRelabelings)
				}
			}

			g := v.Grafana.Dashboard
			cmu, ok := objs["ConfigMap/check-istio-alb-operator-dashboard"]
			if ok != g.Enabled {
				t.Fatalf("dashboard ConfigMap rendered %v, enabled %v", ok, g.Enabled)
			}
			if ok {
				cm := convert[corev1.ConfigMap](t, cmu)
				wantNS := g.Namespace
				if wantNS == "" {
					wantNS = namespace
				}
				if cm.Namespace != wantNS || cm.Labels[g.Label] != g.LabelValue {
					t.Errorf("dashboard ConfigMap in %s with labels %v, want namespace %s and %s=%q", cm.Namespace, cm.Labels, wantNS, g.Label, g.LabelValue)
				}
				for k, want := range g.Annotations {
					if cm.Annotations[k] != want {
						t.Errorf("dashboard annotation %s=%q, want %q", k, cm.Annotations[k], want)
					}
				}
				if got := cm.Data["istio-alb-operator.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(dashboard)) {
					t.Errorf("the ConfigMap does not hold dashboards/istio-alb-operator.json (%d bytes, want %d)", len(got), len(dashboard))
				}
			}

			checkRBAC(t, objs, v.WatchNamespace)
			checkMetricsSecurity(t, objs, c.Args, v.Metrics.Secure)

			// The operator's own flag parsing accepts every rendered argument.
			out, err := exec.Command(operator(t), append(c.Args, "--version")...).CombinedOutput()
			if err != nil {
				t.Errorf("the operator refuses the rendered args %q: %v\n%s", c.Args, err, out)
			}
		})
	}
}

func TestTheCIMatrixSetsEveryValueTheChecksCover(t *testing.T) {
	set := map[string]bool{}
	for _, file := range ciFiles(t) {
		v := readValues(t, file)
		set["image.digest"] = set["image.digest"] || v.Image.Digest != ""
		set["env"] = set["env"] || len(v.Env) > 0
		set["envFrom"] = set["envFrom"] || len(v.EnvFrom) > 0
		set["extraArgs"] = set["extraArgs"] || len(v.ExtraArgs) > 0
		set["topologySpreadConstraints"] = set["topologySpreadConstraints"] || len(v.TopologySpreadConstraints) > 0
		set["podLabels"] = set["podLabels"] || len(v.PodLabels) > 0
		set["podAnnotations"] = set["podAnnotations"] || len(v.PodAnnotations) > 0
		set["metrics.serviceMonitor.relabelings"] = set["metrics.serviceMonitor.relabelings"] || len(v.Metrics.ServiceMonitor.Relabelings) > 0
		set["metrics.serviceMonitor.metricRelabelings"] = set["metrics.serviceMonitor.metricRelabelings"] || len(v.Metrics.ServiceMonitor.MetricRelabelings) > 0
		set["grafana.dashboard.enabled"] = set["grafana.dashboard.enabled"] || v.Grafana.Dashboard.Enabled
		set["grafana.dashboard.label"] = set["grafana.dashboard.label"] || v.Grafana.Dashboard.Label != ""
		set["watchNamespace"] = set["watchNamespace"] || v.WatchNamespace != ""
		secure := readValues(t, filepath.Join(chartDir, "values.yaml"), file).Metrics.Secure
		set["metrics.secure=false"] = set["metrics.secure=false"] || !secure
	}
	for k, ok := range set {
		if !ok {
			t.Errorf("no values file in ci/ sets %s", k)
		}
	}
}

func TestTheSchemaRefusesBadValues(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		says string
	}{
		{"a digest without its algorithm", []string{"--set", "image.digest=0123456789abcdef"}, "digest"},
		{"an extra argument that is not a flag", []string{"--set-json", `extraArgs=["zap-encoder=json"]`}, "extraArgs"},
		{"an env entry without a name", []string{"--set-json", `env=[{"value":"x"}]`}, "env"},
		{"a topology spread constraint without topologyKey", []string{"--set-json", `topologySpreadConstraints=[{"maxSkew":1,"whenUnsatisfiable":"ScheduleAnyway"}]`}, "topologySpreadConstraints"},
		{"a misspelt dashboard value", []string{"--set", "grafana.dashboard.enable=true"}, "enable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"template", "check", chartDir, "--set", "clusterName=c"}, c.args...)
			out, err := exec.Command(helm(t), args...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), c.says) {
				t.Fatalf("helm template %v: want a schema error naming %s, got %v: %s", c.args, c.says, err, out)
			}
		})
	}
}

var operatorBin string

// operator builds the operator once per test binary.
func operator(t *testing.T) string {
	t.Helper()
	if operatorBin == "" {
		bin := filepath.Join(os.TempDir(), fmt.Sprintf("istio-alb-operator-chart-test-%d", os.Getpid()))
		out, err := exec.Command("go", "build", "-o", bin, filepath.Join(root(), "cmd", "istio-alb-operator")).CombinedOutput()
		if err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		operatorBin = bin
	}
	return operatorBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if operatorBin != "" {
		_ = os.Remove(operatorBin)
	}
	os.Exit(code)
}

func selectorOf(labels, selector map[string]string) map[string]string {
	out := map[string]string{}
	for k := range selector {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// grant is one resource of one API group ("" is the core group).
type grant struct{ group, resource string }

// namespacedGrants and clusterGrants are exactly the verbs the operator uses, by resource: the
// namespaced kinds (a Role in the watched namespace when watchNamespace is set) and the
// cluster-scoped ones (always a ClusterRole).
var (
	namespacedGrants = map[grant][]string{
		{"networking.istio.io", "gateways"}:              {"list", "patch", "watch"},
		{"networking.istio.io", "virtualservices"}:       {"list", "watch"},
		{"gateway.networking.k8s.io", "gateways"}:        {"list", "patch", "watch"},
		{"gateway.networking.k8s.io", "gateways/status"}: {"patch"},
		{"gateway.networking.k8s.io", "httproutes"}:      {"list", "watch"},
		{"gateway.networking.k8s.io", "grpcroutes"}:      {"list", "watch"},
		{"", "services"}:                       {"list", "patch", "watch"},
		{"apps", "deployments"}:                {"list", "watch"},
		{"apps", "daemonsets"}:                 {"list", "watch"},
		{"discovery.k8s.io", "endpointslices"}: {"list", "watch"},
		{"events.k8s.io", "events"}:            {"create", "patch"},
	}
	clusterGrants = map[grant][]string{
		{"gateway.networking.k8s.io", "gatewayclasses"}: {"list", "watch"},
		{"", "nodes"}:      {"list", "watch"},
		{"", "namespaces"}: {"list", "watch"},
	}
)

// grants returns the role's verbs by resource, sorted; a rule's nonResourceURLs are left out.
func grants(t *testing.T, u *unstructured.Unstructured) map[grant][]string {
	t.Helper()
	var rules []rbacv1.PolicyRule
	if u.GetKind() == "Role" {
		rules = convert[rbacv1.Role](t, u).Rules
	} else {
		rules = convert[rbacv1.ClusterRole](t, u).Rules
	}
	out := map[grant][]string{}
	for _, r := range rules {
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				k := grant{g, res}
				out[k] = append(out[k], r.Verbs...)
				slices.Sort(out[k])
				out[k] = slices.Compact(out[k])
			}
		}
	}
	return out
}

func union(a, b map[grant][]string) map[grant][]string {
	out := maps.Clone(a)
	maps.Copy(out, b)
	return out
}

// boundTo fails unless the binding gives the role of that kind to the chart's ServiceAccount.
func boundTo(t *testing.T, objs map[string]*unstructured.Unstructured, binding, roleKind, role string) {
	t.Helper()
	u, ok := objs[binding]
	if !ok {
		t.Errorf("no %s rendered", binding)
		return
	}
	b := convert[rbacv1.RoleBinding](t, u) // a ClusterRoleBinding has the same fields
	want := rbacv1.Subject{Kind: "ServiceAccount", Name: serviceAccountOf(t, objs), Namespace: namespace}
	if b.RoleRef.Kind != roleKind || b.RoleRef.Name != role || !slices.Contains(b.Subjects, want) {
		t.Errorf("%s binds %s %s to %+v, want %s %s to %+v", binding, b.RoleRef.Kind, b.RoleRef.Name, b.Subjects, roleKind, role, want)
	}
}

func serviceAccountOf(t *testing.T, objs map[string]*unstructured.Unstructured) string {
	t.Helper()
	return convert[appsv1.Deployment](t, objs["Deployment/check-istio-alb-operator"]).Spec.Template.Spec.ServiceAccountName
}

// checkRBAC checks that the operator gets exactly the verbs it uses: every kind in the
// ClusterRole without watchNamespace; with it, the namespaced kinds in a Role of that namespace
// and only the cluster-scoped kinds in the ClusterRole.
func checkRBAC(t *testing.T, objs map[string]*unstructured.Unstructured, watchNamespace string) {
	t.Helper()
	const name = "check-istio-alb-operator"
	cr, ok := objs["ClusterRole/"+name]
	if !ok {
		t.Fatalf("no ClusterRole %s rendered", name)
	}
	boundTo(t, objs, "ClusterRoleBinding/"+name, "ClusterRole", name)
	role, hasRole := objs["Role/"+name]
	if watchNamespace == "" {
		if got, want := grants(t, cr), union(namespacedGrants, clusterGrants); !same(fmt.Sprint(got), fmt.Sprint(want)) {
			t.Errorf("ClusterRole grants %v, want %v", got, want)
		}
		if hasRole {
			t.Errorf("a Role %s is rendered without watchNamespace", name)
		}
		return
	}
	if got := grants(t, cr); !same(fmt.Sprint(got), fmt.Sprint(clusterGrants)) {
		t.Errorf("with watchNamespace the ClusterRole grants %v, want only the cluster-scoped %v", got, clusterGrants)
	}
	if !hasRole {
		t.Fatalf("with watchNamespace=%s no Role %s is rendered: %v", watchNamespace, name, slices.Sorted(maps.Keys(objs)))
	}
	if role.GetNamespace() != watchNamespace {
		t.Errorf("Role %s is in namespace %q, want %q", name, role.GetNamespace(), watchNamespace)
	}
	if got := grants(t, role); !same(fmt.Sprint(got), fmt.Sprint(namespacedGrants)) {
		t.Errorf("Role grants %v, want %v", got, namespacedGrants)
	}
	if rb := objs["RoleBinding/"+name]; rb == nil || rb.GetNamespace() != watchNamespace {
		t.Errorf("RoleBinding %s not rendered in namespace %s", name, watchNamespace)
	}
	boundTo(t, objs, "RoleBinding/"+name, "Role", name)
}

// checkMetricsSecurity checks what metrics.secure turns on: the flag, the rights to review
// tokens and access, the metrics-reader role for scrapers and an HTTPS ServiceMonitor.
func checkMetricsSecurity(t *testing.T, objs map[string]*unstructured.Unstructured, args []string, secure bool) {
	t.Helper()
	const auth, reader = "check-istio-alb-operator-metrics-auth", "check-istio-alb-operator-metrics-reader"
	if flag := fmt.Sprintf("--metrics-secure=%v", secure); !slices.Contains(args, flag) {
		t.Errorf("args %q lack %s", args, flag)
	}
	authRole, hasAuth := objs["ClusterRole/"+auth]
	readerRole, hasReader := objs["ClusterRole/"+reader]
	sm := objs["ServiceMonitor/check-istio-alb-operator"]
	var endpoint map[string]any
	if sm != nil {
		endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		endpoint, _ = endpoints[0].(map[string]any)
	}
	if !secure {
		if hasAuth || hasReader {
			t.Errorf("metrics.secure=false renders %s %v and %s %v", auth, hasAuth, reader, hasReader)
		}
		if endpoint != nil && endpoint["scheme"] != nil {
			t.Errorf("metrics.secure=false: the ServiceMonitor endpoint has scheme %v", endpoint["scheme"])
		}
		return
	}
	if !hasAuth || !hasReader {
		t.Fatalf("metrics.secure renders %s %v and %s %v, want both", auth, hasAuth, reader, hasReader)
	}
	want := map[grant][]string{{"authentication.k8s.io", "tokenreviews"}: {"create"}, {"authorization.k8s.io", "subjectaccessreviews"}: {"create"}}
	if got := grants(t, authRole); !same(fmt.Sprint(got), fmt.Sprint(want)) {
		t.Errorf("%s grants %v, want %v", auth, got, want)
	}
	boundTo(t, objs, "ClusterRoleBinding/"+auth, "ClusterRole", auth)
	wantReader := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if got := convert[rbacv1.ClusterRole](t, readerRole).Rules; !same(got, wantReader) {
		t.Errorf("%s rules %+v, want %+v", reader, got, wantReader)
	}
	if endpoint != nil && (endpoint["scheme"] != "https" || endpoint["bearerTokenFile"] == nil) {
		t.Errorf("metrics.secure: the ServiceMonitor endpoint %v does not scrape over https with a bearer token", endpoint)
	}
}

func TestWithWatchNamespaceTheNamespacedKindsAreGrantedInThatNamespaceOnly(t *testing.T) {
	helm(t)
	for _, ns := range []string{"", "apps", namespace} {
		t.Run("watchNamespace="+ns, func(t *testing.T) {
			checkRBAC(t, render(t, "--set", "clusterName=c", "--set", "watchNamespace="+ns), ns)
		})
	}
}

func TestNoRoleAllowsUpdatingGateways(t *testing.T) {
	helm(t)
	renders := [][]string{{"--set", "clusterName=c"}, {"--set", "clusterName=c", "--set", "watchNamespace=apps"}}
	for _, file := range ciFiles(t) {
		renders = append(renders, []string{"-f", file})
	}
	for _, args := range renders {
		for key, u := range render(t, args...) {
			if u.GetKind() != "Role" && u.GetKind() != "ClusterRole" {
				continue
			}
			for g, verbs := range grants(t, u) {
				if (strings.HasPrefix(g.resource, "gateways") || g.resource == "*") && (slices.Contains(verbs, "update") || slices.Contains(verbs, "*")) {
					t.Errorf("%v: %s allows %v on %s/%s; the operator only patches Gateways", args, key, verbs, g.group, g.resource)
				}
			}
		}
	}
}

func TestSecureMetricsGrantTokenAndAccessReviewsAndAReaderRole(t *testing.T) {
	helm(t)
	for _, secure := range []bool{true, false} {
		t.Run(fmt.Sprintf("metrics.secure=%v", secure), func(t *testing.T) {
			objs := render(t, "--set", "clusterName=c", "--set", "metrics.serviceMonitor.enabled=true", "--set", fmt.Sprintf("metrics.secure=%v", secure))
			d := convert[appsv1.Deployment](t, objs["Deployment/check-istio-alb-operator"])
			checkMetricsSecurity(t, objs, d.Spec.Template.Spec.Containers[0].Args, secure)
		})
	}
}
