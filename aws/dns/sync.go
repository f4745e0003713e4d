package dns

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"sigs.k8s.io/external-dns/endpoint"
	"sigs.k8s.io/external-dns/pkg/apis/externaldns"
	"sigs.k8s.io/external-dns/plan"
	"sigs.k8s.io/external-dns/registry"
	"sigs.k8s.io/external-dns/registry/txt"
)

// Desired is what one gateway wants in Route53.
type Desired struct {
	// Resource names the gateway in the TXT registry ("istio-alb/<kind>/<namespace>/<name>").
	Resource string
	// Names are the host names to point at the ALB (a wildcard host is a wildcard record).
	Names []string
	// Private selects the private zones associated with VPCID (internal ALBs), else public zones.
	Private   bool
	VPCID     string
	Region    string
	DualStack bool
	// Target is the ALB's DNS name and TargetZoneID its canonical hosted zone; empty Target
	// means "remove every record of the gateway".
	Target       string
	TargetZoneID string
}

// Conflict is a name the gateway wants but may not have.
type Conflict struct {
	Name   string
	Reason string
	// Held says a record of someone else has the name (it may point at the load balancer the
	// gateway's Service has now); false when no hosted zone owns the name.
	Held bool
}

// Outcome is what a sync did.
type Outcome struct {
	// Names are the names the gateway owns after the sync, sorted.
	Names     []string
	Conflicts []Conflict
	// Changes is the number of ChangeResourceRecordSets calls made.
	Changes int
	// Private tells which zones the names live in (those associated with VPCID when private).
	Private bool
	VPCID   string
	// Partial says records of the gateway may exist outside the zones of Names: the first
	// sync after a start reads only the zones of the names the gateway wants (a restart stays
	// cheap), so names it lost while the operator was down are found at teardown, which then
	// reads every zone.
	Partial bool
}

// Syncer keeps the gateways' records with external-dns's plan and TXT registry: a record is
// ours only when its TXT ownership record names our owner id and the gateway; records of other
// owners (another cluster, an external-dns, a hand-made record) are never touched.
type Syncer struct {
	Zones   *Zones
	OwnerID string
	// PreviousOwnerID is an owner id whose records of a gateway (resource label
	// istio-alb/<gateway>) are taken over and rewritten with OwnerID; empty takes none.
	PreviousOwnerID string
	// Window is how long a batch of Route53 work waits for gateways to join (DefaultBatchWindow
	// when zero).
	Window time.Duration
	// ViewTTL is how long a zone's records as last read and changed are reused (DefaultViewTTL
	// when zero); Forget drops them.
	ViewTTL time.Duration

	once  sync.Once
	batch *batcher
}

// Sync makes the records of one gateway what d asks. previous is the outcome of the last sync
// of the gateway (nil after a restart: only the zones of the wanted names are read, and the
// outcome is Partial).
func (s *Syncer) Sync(ctx context.Context, d Desired, previous *Outcome) (Outcome, error) {
	all, err := s.Zones.List(ctx)
	if err != nil {
		return Outcome{}, err
	}
	if d.Target == "" {
		// Teardown: the zones holding what the gateway had, every zone when that is unknown.
		zones := all
		if previous != nil && !previous.Partial {
			had, err := s.visible(ctx, all, previous.Private, previous.VPCID, d.Region)
			if err != nil {
				return Outcome{}, err
			}
			zones = zonesFor(had, previous.Names)
		}
		// Zone by zone: the zones of both visibilities may share a name (a public and a private
		// example.com), and a record must be deleted in the zone it was read from.
		changes := 0
		for _, z := range zones {
			_, n, _, err := s.syncZones(ctx, []Zone{z}, nil, d)
			changes += n
			if err != nil {
				return Outcome{Changes: changes}, err
			}
		}
		return Outcome{Changes: changes}, nil
	}
	visible, err := s.visible(ctx, all, d.Private, d.VPCID, d.Region)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Private: d.Private, VPCID: d.VPCID, Partial: previous == nil || previous.Partial}
	var wanted []string
	for _, n := range d.Names {
		if _, ok := zoneOf(visible, n); ok {
			wanted = append(wanted, n)
		} else {
			kind := "public"
			if d.Private {
				kind = "private (associated with " + d.VPCID + ")"
			}
			out.Conflicts = append(out.Conflicts, Conflict{Name: n, Reason: "no " + kind + " hosted zone owns it"})
		}
	}
	// Read the zones that own a wanted name or a name the gateway had.
	read := zonesFor(visible, wanted)
	if previous != nil && previous.Private == d.Private {
		read = merge(read, zonesFor(visible, previous.Names))
	}
	got, changes, conflicts, err := s.syncZones(ctx, read, wanted, d)
	if err != nil {
		return out, err
	}
	out.Names, out.Changes, out.Conflicts = got, changes, append(out.Conflicts, conflicts...)
	// Names left in the zones of the other visibility (the scheme changed) are removed.
	if previous != nil && previous.Private != d.Private {
		other, err := s.visible(ctx, all, !d.Private, d.VPCID, d.Region)
		if err != nil {
			return out, err
		}
		other = zonesFor(other, previous.Names)
		if len(other) > 0 {
			_, n, _, err := s.syncZones(ctx, other, nil, d)
			out.Changes += n
			if err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func (s *Syncer) visible(ctx context.Context, all []Zone, private bool, vpcID, region string) ([]Zone, error) {
	var ids []string
	if private {
		var err error
		if ids, err = s.Zones.PrivateTo(ctx, vpcID, region); err != nil {
			return nil, err
		}
	}
	var out []Zone
	for _, z := range all {
		if z.Private == private && (!private || slices.Contains(ids, z.ID)) {
			out = append(out, z)
		}
	}
	return out, nil
}

// syncZones plans and applies the gateway's records in zones, each zone in a batch with the
// other gateways syncing it at the same time.
func (s *Syncer) syncZones(ctx context.Context, zones []Zone, wanted []string, d Desired) ([]string, int, []Conflict, error) {
	var kept []string
	var conflicts []Conflict
	changes := 0
	for _, z := range zones {
		var inZone []string
		for _, n := range wanted {
			if owner, ok := zoneOf(zones, n); ok && owner.ID == z.ID {
				inZone = append(inZone, n)
			}
		}
		var k []string
		var c []Conflict
		changed := false
		_, err := s.batches().do(ctx, z, func(snap *snapshot) error {
			var err error
			k, c, changed, err = s.plan(ctx, snap, inZone, d)
			return err
		})
		if err != nil {
			return kept, changes, conflicts, err
		}
		if changed {
			changes++
		}
		kept, conflicts = append(kept, k...), append(conflicts, c...)
	}
	slices.Sort(kept)
	return kept, changes, conflicts, nil
}

func (s *Syncer) batches() *batcher {
	s.once.Do(func() {
		window := s.Window
		if window <= 0 {
			window = DefaultBatchWindow
		}
		ttl := s.ViewTTL
		if ttl <= 0 {
			ttl = DefaultViewTTL
		}
		s.batch = &batcher{api: s.Zones.API, window: window, maxAge: ttl}
	})
	return s.batch
}

// DefaultViewTTL is how long a zone's records are reused before they are read again.
const DefaultViewTTL = time.Minute

// Forget makes the next sync of every zone read it again (a drift check).
func (s *Syncer) Forget() { s.batches().forget() }

// DefaultBatchWindow is how long the first gateway of a batch waits for others to join.
const DefaultBatchWindow = 50 * time.Millisecond

// plan runs external-dns's TXT registry and plan for one gateway over a zone's snapshot: the
// gateway's records (by TXT ownership) become the wanted ones, names held by anyone else are
// reported and left alone. It reports whether it changed anything.
func (s *Syncer) plan(ctx context.Context, snap *snapshot, wanted []string, d Desired) ([]string, []Conflict, bool, error) {
	prov := &route53Provider{snap: snap, aliasZoneID: d.TargetZoneID}
	reg, mine, holders, err := s.read(ctx, prov, d.Resource)
	if err != nil {
		return nil, nil, false, err
	}
	var conflicts []Conflict
	var desired []*endpoint.Endpoint
	var kept []string
	for _, n := range wanted {
		if h, taken := holders[n]; taken {
			conflicts = append(conflicts, Conflict{Name: n, Reason: holderOf(h, s.OwnerID), Held: true})
			continue
		}
		kept = append(kept, n)
		types := []string{endpoint.RecordTypeA}
		if d.DualStack {
			types = append(types, endpoint.RecordTypeAAAA)
		}
		for _, t := range types {
			ep := endpoint.NewEndpoint(n, t, strings.ToLower(strings.TrimSuffix(d.Target, ".")))
			ep.ProviderSpecific = endpoint.ProviderSpecific{{Name: providerSpecificAlias, Value: "true"}}
			desired = append(desired, s.own(ep, d.Resource))
		}
	}
	err = s.apply(ctx, reg, mine, desired, &plan.SyncPolicy{})
	return kept, conflicts, prov.changed, err
}

// read returns the registry over the provider, the records of resource (ours) and, by name, the
// records of anyone else. Records of our gateways still under the previous owner id are ours,
// marked to have their ownership rewritten.
func (s *Syncer) read(ctx context.Context, prov *route53Provider, resource string) (registry.Registry, []*endpoint.Endpoint, map[string]*endpoint.Endpoint, error) {
	reg, err := txt.New(&externaldns.Config{
		TXTOwnerID:            s.OwnerID,
		ManagedDNSRecordTypes: []string{endpoint.RecordTypeA, endpoint.RecordTypeAAAA, endpoint.RecordTypeCNAME},
	}, prov)
	if err != nil {
		return nil, nil, nil, err
	}
	records, err := reg.Records(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	holders := map[string]*endpoint.Endpoint{}
	var mine []*endpoint.Endpoint
	for _, r := range records {
		if r.RecordType == endpoint.RecordTypeTXT {
			continue
		}
		owner, res := r.Labels[endpoint.OwnerLabelKey], r.Labels[endpoint.ResourceLabelKey]
		if res == resource && s.PreviousOwnerID != "" && owner == s.PreviousOwnerID {
			// Taken over: the update the force-update mark causes rewrites its TXT records
			// with our owner id.
			r.Labels[endpoint.OwnerLabelKey] = s.OwnerID
			r.WithProviderSpecific(providerSpecificForceUpdate, "true")
			owner = s.OwnerID
		}
		if owner == s.OwnerID && res == resource {
			mine = append(mine, r)
			continue
		}
		holders[r.DNSName] = r
	}
	return reg, mine, holders, nil
}

// providerSpecificForceUpdate is the property external-dns's TXT registry sets on a record
// whose ownership records must be written again; a current record with it differs from any
// desired one, so the plan updates it.
const providerSpecificForceUpdate = "txt/force-update"

func (s *Syncer) own(ep *endpoint.Endpoint, resource string) *endpoint.Endpoint {
	ep.Labels[endpoint.ResourceLabelKey] = resource
	ep.Labels[endpoint.OwnerLabelKey] = s.OwnerID
	return ep
}

// apply plans current → desired with external-dns's plan and writes the changes through the
// registry (which adds and removes the TXT ownership records).
func (s *Syncer) apply(ctx context.Context, reg registry.Registry, current, desired []*endpoint.Endpoint, policy plan.Policy) error {
	p := (&plan.Plan{
		Current:        current,
		Desired:        desired,
		Policies:       []plan.Policy{policy},
		ManagedRecords: []string{endpoint.RecordTypeA, endpoint.RecordTypeAAAA, endpoint.RecordTypeCNAME},
		OwnerID:        s.OwnerID,
	}).Calculate()
	if !p.Changes.HasChanges() {
		return nil
	}
	return reg.ApplyChanges(ctx, p.Changes)
}

func holderOf(h *endpoint.Endpoint, ours string) string {
	owner, resource := h.Labels[endpoint.OwnerLabelKey], h.Labels[endpoint.ResourceLabelKey]
	switch {
	case owner == "":
		return fmt.Sprintf("a %s record not managed through a TXT ownership record already exists", h.RecordType)
	case owner == ours && strings.HasPrefix(resource, ResourcePrefix):
		return "already claimed by gateway " + strings.TrimPrefix(resource, ResourcePrefix)
	case owner == ours:
		return "already owned by " + resource + " under our owner id " + ours
	default:
		return "owned by " + owner + " (" + resource + ")"
	}
}

// ResourcePrefix starts the registry's resource label of a gateway's records.
const ResourcePrefix = "istio-alb/"

func zonesFor(zones []Zone, names []string) []Zone {
	var out []Zone
	for _, n := range names {
		if z, ok := zoneOf(zones, n); ok && !slices.Contains(out, z) {
			out = append(out, z)
		}
	}
	return out
}

func merge(a, b []Zone) []Zone {
	for _, z := range b {
		if !slices.Contains(a, z) {
			a = append(a, z)
		}
	}
	return a
}
