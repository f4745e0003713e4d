package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
)

// Output formats of the report.
const (
	OutputTable = ""
	OutputWide  = "wide"
	OutputJSON  = "json"
)

// Print writes the rows as a table (wide adds the listeners, the warnings, the last Event and
// the message) or as JSON ({"gateways": [...]}).
func Print(w io.Writer, rows []Row, output string, now time.Time) error {
	if output == OutputJSON {
		if rows == nil {
			rows = []Row{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Gateways []Row `json:"gateways"`
		}{rows})
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := []string{"KIND", "NAMESPACE", "NAME", "PHASE", "LOAD-BALANCER", "CERTIFICATES", "ROUTE53"}
	if output == OutputWide {
		header = append(header, "LISTENERS", "WARNINGS", "LAST-EVENT", "MESSAGE")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := []string{r.Kind, r.Namespace, r.Name, r.PhaseCell(), or(r.LoadBalancerDNS, "<pending>"),
			r.certificatesCell(output == OutputWide), r.route53Cell()}
		if output == OutputWide {
			last := "<none>"
			if r.LastEvent != nil {
				last = r.LastEvent.Reason + " (" + duration.HumanDuration(now.Sub(r.LastEvent.Time)) + " ago)"
			}
			cells = append(cells, list(r.Listeners, "<unknown>"), list(r.Warnings, "<none>"), last, oneLine(r.Message))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// PhaseCell is the phase as one word: "error:<reason>" for an error, "deleting:<reason>" for a
// teardown that waits on a problem.
func (r Row) PhaseCell() string {
	if r.Reason != "" && (r.Phase == PhaseError || r.Phase == PhaseDeleting) {
		return r.Phase + ":" + r.Reason
	}
	return r.Phase
}

// certificatesCell lists the known certificates (their ids, whole ARNs when wide); <discovered>
// when an HTTPS listener carries certificates the operator found in ACM (not named in
// Kubernetes); <none> when the listeners have no HTTPS; <unknown> when no Event says.
func (r Row) certificatesCell(wide bool) string {
	var out []string
	for _, arn := range r.Certificates {
		if !wide {
			arn = arn[strings.LastIndex(arn, "/")+1:]
		}
		out = append(out, arn)
	}
	switch {
	case r.CertificatesDiscovered:
		out = append(out, "<discovered>")
	case len(out) == 0 && len(r.Listeners) > 0:
		out = append(out, "<none>")
	}
	return list(out, "<unknown>")
}

// route53Cell lists the Route53 names; <off> with istio-alb.io/dns "false"; <unknown> for a
// built gateway whose last DNSRecordsSynced Event has expired.
func (r Row) route53Cell() string {
	switch {
	case r.DNSOff:
		return "<off>"
	case len(r.Route53Names) > 0:
		return strings.Join(r.Route53Names, ",")
	case r.Phase == PhaseReady || r.Phase == PhaseCutover:
		return "<unknown>"
	}
	return "<none>"
}

func list(items []string, empty string) string {
	if len(items) == 0 {
		return empty
	}
	return strings.Join(items, ",")
}

func or(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
