package plan

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

const manifests = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: gw
  namespace: apps
  annotations:
    istio-alb.io/enabled: "true"
spec:
  selector:
    istio: ingressgateway
---
apiVersion: v1
kind: Service
metadata:
  name: istio-ingressgateway
spec:
  type: LoadBalancer
---
apiVersion: example.com/v1
kind: Unknown
metadata:
  name: skipped
`

func TestManifestsAreReadIntoTheOperatorsTypesAndUnknownKindsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.yaml")
	if err := os.WriteFile(path, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	objs, err := readManifests(path, controllers.Scheme())
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 {
		t.Fatalf("%d objects, want the Gateway and the Service", len(objs))
	}
	gw, ok := objs[0].(*istionet.Gateway)
	if !ok || gw.Annotations["istio-alb.io/enabled"] != "true" || gw.Spec.GetSelector()["istio"] != "ingressgateway" {
		t.Fatalf("gateway %#v", objs[0])
	}
	svc, ok := objs[1].(*corev1.Service)
	if !ok || svc.Namespace != "default" || svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		t.Fatalf("service %#v (a namespaced object without namespace is in default)", objs[1])
	}
}

func TestTheFilesWinOverTheClusterAndWritesAreRefused(t *testing.T) {
	scheme := controllers.Scheme()
	svc := func(name, typ string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.ServiceSpec{Type: corev1.ServiceType(typ)}}
	}
	cluster := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc("a", "ClusterIP"), svc("b", "ClusterIP")).Build()
	files := fake.NewClientBuilder().WithScheme(scheme).WithObjects(svc("a", "LoadBalancer"), svc("c", "NodePort")).Build()
	c := readOnly{&overlay{Client: cluster, files: files}}
	ctx := context.Background()
	var list corev1.ServiceList
	if err := c.List(ctx, &list, client.InNamespace("ns")); err != nil {
		t.Fatal(err)
	}
	got := map[string]corev1.ServiceType{}
	for _, s := range list.Items {
		got[s.Name] = s.Spec.Type
	}
	if len(got) != 3 || got["a"] != "LoadBalancer" || got["b"] != "ClusterIP" || got["c"] != "NodePort" {
		t.Fatalf("listed %v", got)
	}
	var b corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: "ns", Name: "b"}, &b); err != nil || b.Spec.Type != "ClusterIP" {
		t.Fatalf("get from the cluster: %v %v", b.Spec.Type, err)
	}
	if err := c.Patch(ctx, &b, client.MergeFrom(b.DeepCopy())); err != errReadOnly {
		t.Fatalf("patch: %v", err)
	}
	if err := c.Delete(ctx, &b); err != errReadOnly {
		t.Fatalf("delete: %v", err)
	}
}

func TestThePlanNeedsManifestsAndAClusterName(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--cluster-name", "c"}, "plan needs -f"},
		{[]string{"-f", "x.yaml", "-o", "yaml", "--cluster-name", "c"}, `-o must be "json"`},
		{[]string{"extra"}, "plan takes no arguments"},
	} {
		var out, errOut bytes.Buffer
		err := Run(context.Background(), c.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}
