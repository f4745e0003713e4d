// Package status is the `istio-alb-operator status` subcommand: a read-only report, through a
// kubeconfig, of every gateway the operator manages — its ALB, where its move behind the ALB
// stands, its certificates and Route53 names — worked out from what the operator writes in
// Kubernetes (the DNS-name annotation, the Gateway API condition, Events). It needs no AWS
// credentials and changes nothing.
package status

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

// Run runs the subcommand with its arguments (those after "status").
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("istio-alb-operator status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var kubeconfig, kubeContext, namespace, output string
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster)")
	fs.StringVar(&kubeContext, "context", "", "kubeconfig context (default: the current context)")
	fs.StringVar(&namespace, "namespace", "", "only Gateways of this namespace (default: all namespaces)")
	fs.StringVar(&namespace, "n", "", "shorthand for --namespace")
	fs.StringVar(&output, "output", "", `"wide" (listeners, warnings, last Event, message) or "json"; a table by default`)
	fs.StringVar(&output, "o", "", "shorthand for --output")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: istio-alb-operator status [--kubeconfig FILE] [--context NAME] [-n NAMESPACE] [-o wide|json]")
		fmt.Fprintln(stderr, "\nOne row per Gateway (Istio or Gateway API) the operator manages: its ALB, phase (planning,")
		fmt.Fprintln(stderr, "building, cutover, ready, error:<reason>, deleting), certificates and Route53 names, read from")
		fmt.Fprintln(stderr, "the Gateways and their Events. Read-only; needs get/list on Gateways and list on Events.")
		fmt.Fprintln(stderr)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("status takes no arguments, got %s", strings.Join(fs.Args(), " "))
	}
	switch output {
	case OutputTable, OutputWide, OutputJSON:
	default:
		return fmt.Errorf(`-o must be "wide" or "json", got %q`, output)
	}

	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: kubeContext}).ClientConfig()
	if err != nil {
		return fmt.Errorf("loading kubeconfig: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: controllers.Scheme()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	gateways, missing, err := Read(ctx, c, namespace)
	if err != nil {
		return err
	}
	for _, kind := range missing {
		fmt.Fprintf(stderr, "%s: not served by the API server (CRD not installed); skipped\n", kind)
	}
	rows := make([]Row, 0, len(gateways))
	for _, g := range gateways {
		rows = append(rows, RowOf(g))
	}
	return Print(stdout, rows, output, time.Now())
}
