package integration_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/istio-alb-operator/istio-alb-operator/test/rig"
)

// The chart's release in manifests/install.yaml is named like its ServiceAccount, and so are
// the roles of secure metrics.
const (
	metricsAuthRole   = rig.OperatorServiceAccount + "-metrics-auth"
	metricsReaderRole = rig.OperatorServiceAccount + "-metrics-reader"
)

func TestSecureMetricsAnswerOnlyATokenWhoseServiceAccountMayReadMetrics(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := kubernetes.NewForConfig(restConfig)
	must(t, err)

	// The operator reviews tokens and access as the chart's ServiceAccount, allowed by the chart's
	// ClusterRoleBinding and by nothing else.
	for _, attrs := range []authzv1.ResourceAttributes{
		{Group: "authentication.k8s.io", Resource: "tokenreviews", Verb: "create"},
		{Group: "authorization.k8s.io", Resource: "subjectaccessreviews", Verb: "create"},
	} {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + rig.OperatorNamespace + ":" + rig.OperatorServiceAccount,
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + rig.OperatorNamespace, "system:authenticated"},
			ResourceAttributes: &attrs,
		}}, metav1.CreateOptions{})
		must(t, err)
		if !sar.Status.Allowed || !strings.Contains(sar.Status.Reason, `ClusterRoleBinding "`+metricsAuthRole+`"`) {
			t.Fatalf("the operator may %s %s: %v (%s); want allowed by the chart's ClusterRoleBinding %s", attrs.Verb, attrs.Resource, sar.Status.Allowed, sar.Status.Reason, metricsAuthRole)
		}
	}

	// Two ServiceAccounts: one bound to the chart's metrics-reader ClusterRole, one not.
	ns := fmt.Sprintf("metrics-auth-%d", scenarioN.Add(1))
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	for _, sa := range []string{"scraper", "stranger"} {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa}}, metav1.CreateOptions{})
		must(t, err)
	}
	_, err = cs.RbacV1().ClusterRoles().Get(ctx, metricsReaderRole, metav1.GetOptions{})
	must(t, err)
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: ns + "-scraper"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: metricsReaderRole},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}}}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{})
	must(t, err)
	t.Cleanup(func() {
		_ = cs.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	token := func(sa string) string {
		t.Helper()
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authnv1.TokenRequest{
			Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To(int64(600))}}, metav1.CreateOptions{})
		must(t, err)
		return tr.Status.Token
	}

	op := startOperator(t, operatorBinary(t), operatorKubeconfig(t, controlPlane.Env), "--metrics-secure")
	if host, _, _ := net.SplitHostPort(op.metrics); host != "127.0.0.1" {
		t.Fatalf("metrics address %s is not on 127.0.0.1", op.metrics)
	}
	url := "https://" + op.metrics + "/metrics"
	// The certificate is the self-signed one the operator makes at start, so it is not verified.
	httpsClient := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // a self-signed certificate, checked below
	}}
	scrape := func(bearer string) (int, string, *tls.ConnectionState) {
		t.Helper()
		var code int
		var body string
		var state *tls.ConnectionState
		// Retried while the server is not listening yet (a start on a busy machine takes a while).
		must(t, rig.Eventually(60*time.Second, 200*time.Millisecond, func() error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := httpsClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			code, body, state = resp.StatusCode, string(b), resp.TLS
			return err
		}))
		return code, body, state
	}

	t.Run("no token: 401", func(t *testing.T) {
		code, body, state := scrape("")
		if code != http.StatusUnauthorized {
			t.Fatalf("GET /metrics without a token: %d %q, want 401", code, body)
		}
		if state == nil || len(state.PeerCertificates) == 0 || !state.PeerCertificates[0].IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)) {
			t.Fatalf("metrics not served over TLS with the self-signed certificate for 127.0.0.1: %+v", state)
		}
	})
	t.Run("a token the API server does not know: refused", func(t *testing.T) {
		// controller-runtime's filter answers a token the TokenReview rejects with 500
		// "Authentication failed" (its authenticator reports it as an error), not 401.
		if code, body, _ := scrape("not-a-token"); code != http.StatusUnauthorized && code != http.StatusInternalServerError {
			t.Fatalf("GET /metrics with a made-up token: %d %q, want 401 or 500", code, body)
		}
	})
	t.Run("a ServiceAccount without the metrics-reader binding: 403", func(t *testing.T) {
		code, body, _ := scrape(token("stranger"))
		if code != http.StatusForbidden || !strings.Contains(body, "system:serviceaccount:"+ns+":stranger") {
			t.Fatalf("GET /metrics as %s/stranger: %d %q, want 403 naming the user", ns, code, body)
		}
	})
	t.Run("a ServiceAccount bound to the metrics-reader ClusterRole: 200 with the operator's metrics", func(t *testing.T) {
		code, body, _ := scrape(token("scraper"))
		if code != http.StatusOK || !strings.Contains(body, "istio_alb_build_info") || !strings.Contains(body, "istio_alb_controller_enabled") {
			t.Fatalf("GET /metrics as %s/scraper: %d, want 200 with istio_alb metrics; body:\n%.500s", ns, code, body)
		}
	})
	t.Run("plain HTTP is refused", func(t *testing.T) {
		code, _, err := get("http://" + op.metrics + "/metrics")
		if err == nil && code == http.StatusOK {
			t.Fatalf("GET /metrics over plain HTTP answered 200")
		}
	})
}
