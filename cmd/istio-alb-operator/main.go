// Command istio-alb-operator puts an AWS Application Load Balancer in front of every Istio
// gateway annotated istio-alb.io/enabled: "true". This file only parses flags and starts the
// manager that controllers.NewManager wires, or runs the read-only `status` subcommand
// (package status) or `iam-policy`, which prints the IAM policy for a cluster (iam_policy.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-alb-operator/istio-alb-operator/cmd/istio-alb-operator/plan"
	"github.com/istio-alb-operator/istio-alb-operator/cmd/istio-alb-operator/status"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

// version is set at build time: -ldflags "-X main.version=$(git describe --tags --always --dirty)"
// (the Makefile and the Dockerfile do).
var version = "dev"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "istio-alb-operator:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "status" {
		return status.Run(context.Background(), args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "plan" {
		return plan.Run(context.Background(), args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "iam-policy" {
		return iamPolicy(args[1:], stdout, stderr)
	}
	var o controllers.Options
	fs := flag.NewFlagSet("istio-alb-operator", flag.ExitOnError)
	o.BindFlags(fs)
	printVersion := fs.Bool("version", false, "print the version and exit")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: istio-alb-operator --cluster-name NAME [flags]")
		fmt.Fprintln(fs.Output(), "       istio-alb-operator status [-n NAMESPACE] [-o wide|json]   (read-only report; status -h)")
		fmt.Fprintln(fs.Output(), "       istio-alb-operator plan -f MANIFESTS.yaml --cluster-name NAME [--kubeconfig FILE] [-o json]   (the AWS changes, written nowhere; plan -h)")
		fmt.Fprintln(fs.Output(), "       istio-alb-operator iam-policy --cluster-name NAME [--hosted-zone-ids Z1,Z2]   (the IAM policy)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printVersion {
		_, err := fmt.Fprintf(stdout, "istio-alb-operator %s %s\n", version, runtime.Version())
		return err
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if err := o.Complete(); err != nil {
		return err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	controllers.RecordBuildInfo(version)
	ctx := ctrl.SetupSignalHandler()
	mgr, err := controllers.NewManager(ctx, cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
