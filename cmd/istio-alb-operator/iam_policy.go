package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/istio-alb-operator/istio-alb-operator/aws/iampolicy"
)

// iamPolicy is the `iam-policy` subcommand: it prints the IAM policy for one cluster (and,
// optionally, only some Route53 zones). It reads nothing and needs no credentials.
func iamPolicy(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("istio-alb-operator iam-policy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o iampolicy.Options
	var zones string
	fs.StringVar(&o.ClusterName, "cluster-name", "", "the operator's --cluster-name (required)")
	fs.StringVar(&zones, "hosted-zone-ids", "", "comma-separated Route53 zone ids records may be written to (default: every zone)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: istio-alb-operator iam-policy --cluster-name NAME [--hosted-zone-ids Z1,Z2]")
		fmt.Fprintln(stderr, "\nPrints the IAM policy the operator's role needs, scoped to this cluster's tagged resources")
		fmt.Fprintln(stderr, "and to the given hosted zones. Attach it through IRSA or EKS Pod Identity.")
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
		return fmt.Errorf("iam-policy takes no arguments, got %s", strings.Join(fs.Args(), " "))
	}
	if o.ClusterName == "" {
		return errors.New("iam-policy: --cluster-name is required")
	}
	for z := range strings.SplitSeq(zones, ",") {
		if z = strings.TrimSpace(z); z != "" {
			o.HostedZoneIDs = append(o.HostedZoneIDs, z)
		}
	}
	doc, err := iampolicy.Render(o)
	if err != nil {
		return fmt.Errorf("iam-policy: %w", err)
	}
	out, err := doc.JSON()
	if err != nil {
		return err
	}
	if n := doc.Size(); n > iampolicy.ManagedPolicyLimit {
		fmt.Fprintf(stderr, "warning: the policy has %d characters, more than the %d of a managed policy: attach it as an inline policy or give fewer zones\n", n, iampolicy.ManagedPolicyLimit)
	}
	_, err = stdout.Write(out)
	return err
}
