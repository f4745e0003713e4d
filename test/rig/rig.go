// Package rig starts what the integration scenarios and the demo run against: a real
// kube-apiserver and etcd (envtest, binaries built by test/tools) with the Istio CRDs from the
// module cache, and the LocalStack-compatible AWS endpoint that localstack/up.sh started.
package rig

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"bytes"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"io"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// RequireEnv, set to 1 (as .ci/run does), turns a missing rig into a failure instead of a skip.
const RequireEnv = "ISTIO_ALB_REQUIRE_RIG"

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Endpoint is the AWS endpoint URL of the rig.
func Endpoint() string {
	if v := os.Getenv("AWS_ENDPOINT_URL"); v != "" {
		return v
	}
	return "http://127.0.0.1:4566"
}

// Missing says what of the rig is absent, "" when all is there.
func Missing() string {
	assets := binaryDir()
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return fmt.Sprintf("%s not found in %s (run `make control-plane`)", b, assets)
		}
	}
	c := http.Client{Timeout: 2 * time.Second}
	for _, path := range []string{"/moto-api/", "/_localstack/health"} {
		if resp, err := c.Get(strings.TrimRight(Endpoint(), "/") + path); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 300 {
				return ""
			}
		}
	}
	return fmt.Sprintf("no AWS endpoint answering on %s (run `make aws-up`)", Endpoint())
}

func binaryDir() string {
	if v := os.Getenv("KUBEBUILDER_ASSETS"); v != "" {
		return v
	}
	return filepath.Join(Root(), "bin", "k8s")
}

// CRDPaths are the CRD files the API server needs, read from the module cache: Istio's, and
// the standard channel of the Gateway API.
func CRDPaths() ([]string, error) {
	istio, err := IstioCRDPaths()
	if err != nil {
		return nil, err
	}
	gw, err := GatewayAPICRDPaths()
	if err != nil {
		return nil, err
	}
	return append(istio, gw...), nil
}

// IstioCRDPaths is Istio's CRD file (networking.istio.io and the rest of Istio's APIs).
func IstioCRDPaths() ([]string, error) {
	istioDir, err := moduleDir("istio.io/api")
	if err != nil {
		return nil, err
	}
	istio := filepath.Join(istioDir, "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(istio); err != nil {
		return nil, err
	}
	return []string{istio}, nil
}

// GatewayAPICRDPaths are the standard channel's CRD files of the Gateway API.
func GatewayAPICRDPaths() ([]string, error) {
	gwDir, err := moduleDir("sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	var paths []string
	for _, crd := range []string{"gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"} {
		p := filepath.Join(gwDir, "config", "crd", "standard", "gateway.networking.k8s.io_"+crd+".yaml")
		if _, err := os.Stat(p); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}

func moduleDir(module string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = Root()
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("locating %s in the module cache: %w", module, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// ControlPlane is a running API server.
type ControlPlane struct {
	Env    *envtest.Environment
	Config *rest.Config
}

// ControlPlaneOptions choose what a control plane starts with.
type ControlPlaneOptions struct {
	// WithoutGatewayAPI starts it with Istio's CRDs only, as most EKS clusters serving Istio
	// Gateways are (InstallCRDs adds the Gateway API's later).
	WithoutGatewayAPI bool
}

// StartControlPlane starts kube-apiserver and etcd with the CRDs installed.
func StartControlPlane() (*ControlPlane, error) {
	return StartControlPlaneWith(ControlPlaneOptions{})
}

// StartControlPlaneWith starts kube-apiserver and etcd with the CRDs the options choose; several
// can run at once, each on its own ports.
func StartControlPlaneWith(o ControlPlaneOptions) (*ControlPlane, error) {
	paths, err := CRDPaths()
	if o.WithoutGatewayAPI {
		paths, err = IstioCRDPaths()
	}
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: binaryDir(),
		CRDInstallOptions:     envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true},
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd: %w", err)
	}
	return &ControlPlane{Env: env, Config: cfg}, nil
}

// InstallCRDs installs the CRD files on the running control plane and waits until the API
// server serves them.
func (c *ControlPlane) InstallCRDs(paths []string) error {
	_, err := envtest.InstallCRDs(c.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true})
	return err
}

// Stop stops the control plane.
func (c *ControlPlane) Stop() error { return c.Env.Stop() }

// AWSConfig is an SDK configuration pointed at the rig's endpoint with test credentials.
func AWSConfig(ctx context.Context) (aws.Config, error) {
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"} {
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return cfg, err
	}
	cfg.BaseEndpoint = aws.String(Endpoint())
	return cfg, nil
}

// Eventually polls check every interval until it returns nil, at most timeout and at most
// timeout/interval times; it returns the last error.
func Eventually(timeout, interval time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	err := errors.New("never checked")
	for i := 0; i <= int(timeout/interval); i++ {
		if err = check(); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(interval)
	}
	return err
}

// OperatorNamespace and OperatorServiceAccount are where manifests/install.yaml puts the operator.
const (
	OperatorNamespace      = "istio-alb-system"
	OperatorServiceAccount = "istio-alb-operator"
)

// InstallOperator creates every object of manifests/install.yaml (the chart rendered with its
// defaults) with server-side apply, as a user's `kubectl apply --server-side` would, and returns
// a configuration that acts as the operator's ServiceAccount (impersonation): whatever the
// operator does with it is allowed by the chart's RBAC, or fails.
func InstallOperator(ctx context.Context, cfg *rest.Config) (*rest.Config, error) {
	data, err := os.ReadFile(filepath.Join(Root(), "manifests", "install.yaml"))
	if err != nil {
		return nil, err
	}
	if err := Apply(ctx, cfg, data, nil); err != nil {
		return nil, fmt.Errorf("manifests/install.yaml: %w", err)
	}
	return AsServiceAccount(cfg, OperatorNamespace, OperatorServiceAccount), nil
}

// Apply creates or updates every object of the YAML documents for which keep (nil: all) is true,
// with server-side apply.
func Apply(ctx context.Context, cfg *rest.Config, data []byte, keep func(*unstructured.Unstructured) bool) error {
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return err
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if len(u.Object) == 0 || (keep != nil && !keep(u)) {
			continue
		}
		if err := c.Patch(ctx, u, client.Apply, client.FieldOwner("istio-alb-install"), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
		}
	}
}

// AsServiceAccount is cfg acting as the ServiceAccount (impersonation, with its groups).
func AsServiceAccount(cfg *rest.Config, namespace, name string) *rest.Config {
	op := rest.CopyConfig(cfg)
	op.Impersonate = rest.ImpersonationConfig{
		UserName: "system:serviceaccount:" + namespace + ":" + name,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"},
	}
	return op
}

// RenderChart renders charts/istio-alb-operator as `helm template <release>` in the namespace
// with the extra args, with $HELM, else bin/helm (`make helm`).
func RenderChart(release, namespace string, args ...string) ([]byte, error) {
	helm := os.Getenv("HELM")
	if helm == "" {
		helm = filepath.Join(Root(), "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		return nil, fmt.Errorf("helm not found at %s (run `make helm`)", helm)
	}
	cmd := exec.Command(helm, append([]string{"template", release, filepath.Join(Root(), "charts", "istio-alb-operator"), "--namespace", namespace}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("helm template %v: %w: %s", args, err, stderr.String())
	}
	return out, nil
}
