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
	Metrics                   struct {
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
