// Command istio-alb-operator puts an AWS Application Load Balancer in front of every Istio
// gateway annotated istio-alb.io/enabled: "true". This file only parses flags and starts the
// manager that controllers.NewManager wires.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "istio-alb-operator:", err)
		os.Exit(1)
	}
}

func run() error {
	var o controllers.Options
	fs := flag.NewFlagSet("istio-alb-operator", flag.ExitOnError)
	o.BindFlags(fs)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
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
	ctx := ctrl.SetupSignalHandler()
	mgr, err := controllers.NewManager(ctx, cfg, o)
	if err != nil {
		return err
	}
	return mgr.Start(ctx)
}
