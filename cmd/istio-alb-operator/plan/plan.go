// Package plan is the `istio-alb-operator plan` subcommand: for the Gateways in manifest files,
// the AWS changes the operator would make — creates, modifies, deletes, by resource — worked out
// by the operator's own pipeline in dry mode (the reconcile of a Gateway annotated
// istio-alb.io/dry-run: "true") against the current AWS account. It writes nothing, to AWS or to
// the cluster.
package plan

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	istionet "istio.io/client-go/pkg/apis/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/istio-alb-operator/istio-alb-operator/aws/clients"
	"github.com/istio-alb-operator/istio-alb-operator/controllers"
)

// Output formats.
const (
	OutputTable = ""
	OutputJSON  = "json"
)

type files []string

func (f *files) String() string     { return strings.Join(*f, ",") }
func (f *files) Set(v string) error { *f = append(*f, v); return nil }

// Run runs the subcommand with its arguments (those after "plan").
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("istio-alb-operator plan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o controllers.Options
	o.BindFlags(fs)
	var manifests files
	var output string
	fs.Var(&manifests, "f", `manifest file with Gateways (and optionally their Services, Deployments, Nodes...); repeatable; "-" reads standard input`)
	fs.StringVar(&output, "o", "", `"json"; a table by default`)
	fs.StringVar(&output, "output", "", "same as -o")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: istio-alb-operator plan -f MANIFESTS.yaml --cluster-name NAME [--kubeconfig FILE] [-o json] [operator flags]")
		fmt.Fprintln(stderr, "\nFor each Gateway (Istio or Gateway API) in the files: the AWS changes the operator would make")
		fmt.Fprintln(stderr, "for it, planned against the current AWS account by the operator's own code in dry mode. Other")
		fmt.Fprintln(stderr, "objects the plan needs (Services, Deployments, Pods, Nodes, Namespaces, routes) come from the")
		fmt.Fprintln(stderr, "files first, else from the cluster of --kubeconfig ($KUBECONFIG). Writes nothing anywhere.")
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
		return fmt.Errorf("plan takes no arguments, got %s (manifests go with -f)", strings.Join(fs.Args(), " "))
	}
	if len(manifests) == 0 {
		return errors.New("plan needs -f MANIFESTS.yaml")
	}
	if output != OutputTable && output != OutputJSON {
		return fmt.Errorf(`-o must be "json", got %q`, output)
	}
	scheme := controllers.Scheme()
	var objs []client.Object
	for _, f := range manifests {
		read, err := readManifests(f, scheme)
		if err != nil {
			return err
		}
		objs = append(objs, read...)
	}
	var gateways []client.Object
	for _, obj := range objs {
		switch obj.(type) {
		case *istionet.Gateway, *gwapiv1.Gateway:
			gateways = append(gateways, obj)
		}
	}
	if len(gateways) == 0 {
		return errors.New("no Gateway (networking.istio.io/v1 or gateway.networking.k8s.io/v1) in the manifests")
	}
	c := client.Client(fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build())
	if o.Kubeconfig != "" {
		cfg, err := o.RESTConfig()
		if err != nil {
			return fmt.Errorf("loading kubeconfig: %w", err)
		}
		cluster, err := client.New(cfg, client.Options{Scheme: scheme})
		if err != nil {
			return err
		}
		c = &overlay{Client: cluster, files: c}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	calls := &clients.Recorder{}
	o.AWSCalls = calls
	planner, err := controllers.NewPlanner(ctx, o, readOnly{c})
	if err != nil {
		return err
	}
	results := make([]controllers.DryRunResult, 0, len(gateways))
	for _, gw := range gateways {
		if ov, ok := c.(*overlay); ok {
			// A Gateway the operator already manages keeps its finalizer in the plan.
			live := gw.DeepCopyObject().(client.Object)
			if err := ov.Client.Get(ctx, client.ObjectKeyFromObject(gw), live); err == nil {
				gw.SetFinalizers(live.GetFinalizers())
			}
		}
		res, err := planner.DryRun(ctx, readOnly{c}, gw)
		if err != nil {
			return fmt.Errorf("%s: %w", res.Gateway, err)
		}
		results = append(results, res)
	}
	for call, n := range calls.Snapshot() {
		if clients.IsMutating(call.Operation) {
			return fmt.Errorf("internal error: the plan made %d %s calls", n, call)
		}
	}
	if output == OutputJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(results)
	}
	return printTable(stdout, results)
}

func printTable(w io.Writer, results []controllers.DryRunResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, r := range results {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		switch {
		case len(r.Problems) > 0:
			fmt.Fprintf(tw, "GATEWAY %s: rejected, nothing would be written\n", r.Gateway)
			for _, p := range r.Problems {
				fmt.Fprintf(tw, "  %s: %s\n", p.Reason, p.Message)
			}
			continue
		case len(r.Changes) == 0:
			fmt.Fprintf(tw, "GATEWAY %s: no changes\n", r.Gateway)
		default:
			fmt.Fprintf(tw, "GATEWAY %s: %d changes\n", r.Gateway, len(r.Changes))
			fmt.Fprintln(tw, "ACTION\tKIND\tRESOURCE\tCALL\tDETAIL")
			for _, c := range r.Changes {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s.%s\t%s\n", c.Action, c.Kind, c.Resource, c.Service, c.Operation, c.Detail)
			}
		}
		if r.Waiting != "" {
			fmt.Fprintf(tw, "then waiting: %s\n", r.Waiting)
		}
	}
	return tw.Flush()
}

// readManifests decodes every object of a YAML or JSON file ("-": standard input) into the
// scheme's types; kinds the operator does not read are skipped.
func readManifests(path string, scheme *runtime.Scheme) ([]client.Object, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []client.Object
	for {
		var u unstructured.Unstructured
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		typed, err := scheme.New(u.GroupVersionKind())
		if err != nil {
			continue // not a kind the plan reads
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, typed); err != nil {
			return nil, fmt.Errorf("%s: %s %s: %w", path, u.GetKind(), u.GetName(), err)
		}
		obj, ok := typed.(client.Object)
		if !ok {
			continue
		}
		if obj.GetNamespace() == "" && u.GetKind() != "Namespace" && u.GetKind() != "Node" && u.GetKind() != "GatewayClass" {
			obj.SetNamespace("default")
		}
		out = append(out, obj)
	}
}

// overlay reads the objects of the files first, then the cluster's.
type overlay struct {
	client.Client
	files client.Client
}

func (o *overlay) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := o.files.Get(ctx, key, obj, opts...)
	if err == nil || !apierrors.IsNotFound(err) {
		return err
	}
	return o.Client.Get(ctx, key, obj, opts...)
}

func (o *overlay) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if err := o.Client.List(ctx, list, opts...); err != nil {
		return err
	}
	fromFiles := list.DeepCopyObject().(client.ObjectList)
	if err := o.files.List(ctx, fromFiles, opts...); err != nil {
		return err
	}
	clusterItems, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	fileItems, err := meta.ExtractList(fromFiles)
	if err != nil {
		return err
	}
	inFiles := map[client.ObjectKey]bool{}
	for _, it := range fileItems {
		inFiles[client.ObjectKeyFromObject(it.(client.Object))] = true
	}
	merged := fileItems
	for _, it := range clusterItems {
		if !inFiles[client.ObjectKeyFromObject(it.(client.Object))] {
			merged = append(merged, it)
		}
	}
	return meta.SetList(list, merged)
}

// readOnly refuses every write: the plan writes nothing to the cluster.
type readOnly struct{ client.Client }

var errReadOnly = errors.New("plan writes nothing to the cluster")

func (readOnly) Create(context.Context, client.Object, ...client.CreateOption) error {
	return errReadOnly
}
func (readOnly) Update(context.Context, client.Object, ...client.UpdateOption) error {
	return errReadOnly
}
func (readOnly) Delete(context.Context, client.Object, ...client.DeleteOption) error {
	return errReadOnly
}
func (readOnly) Patch(context.Context, client.Object, client.Patch, ...client.PatchOption) error {
	return errReadOnly
}
func (readOnly) DeleteAllOf(context.Context, client.Object, ...client.DeleteAllOfOption) error {
	return errReadOnly
}
func (readOnly) Apply(context.Context, runtime.ApplyConfiguration, ...client.ApplyOption) error {
	return errReadOnly
}
