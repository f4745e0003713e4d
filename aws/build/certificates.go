package build

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/istio-alb-operator/istio-alb-operator/aws/model"
)

// Covers reports whether a certificate name serves host. A wildcard name covers exactly one
// label: *.example.com covers a.example.com, neither example.com nor a.b.example.com. A
// wildcard host (*.example.com) is covered only by the same wildcard name.
func Covers(name, host string) bool {
	name, host = strings.ToLower(name), strings.ToLower(host)
	if name == host {
		return true
	}
	if !strings.HasPrefix(name, "*.") || strings.HasPrefix(host, "*.") {
		return false
	}
	_, rest, ok := strings.Cut(host, ".")
	return ok && rest == name[2:]
}

// match is how well a certificate serves a host: 0 not at all, 1 by wildcard, 2 by exact name.
func match(c model.Certificate, host string) int {
	best := 0
	for _, n := range c.Names {
		switch {
		case n == strings.ToLower(host):
			return 2
		case Covers(n, host):
			best = 1
		}
	}
	return best
}

// Selection is the set of certificates chosen for a listener.
type Selection struct {
	// ARNs are the chosen certificates, the listener's default first.
	ARNs []string
	// ByHost is the certificate chosen for each covered host.
	ByHost map[string]string
	// Uncovered are the hosts no usable certificate serves, sorted.
	Uncovered []string
}

// Select chooses the smallest set of usable certificates that serves every host it can. For
// each host only its best certificates count (an exact name beats a wildcard); among those the
// one serving the most hosts still unserved is taken first (greedy set cover), then the one
// valid longest, then the lowest ARN, so the choice is deterministic and a renewed certificate
// replaces the one it renews. The first chosen certificate (the one serving the most hosts)
// is the default.
func Select(hosts []string, certs []model.Certificate, now time.Time) Selection {
	sel := Selection{ByHost: map[string]string{}}
	usable := slices.DeleteFunc(slices.Clone(certs), func(c model.Certificate) bool { return !c.Usable(now) })
	// best[host] are the indexes of the certificates serving host at its best level.
	best := map[string][]int{}
	for _, h := range hosts {
		level := 0
		for i, c := range usable {
			switch m := match(c, h); {
			case m > level:
				level, best[h] = m, []int{i}
			case m == level && m > 0:
				best[h] = append(best[h], i)
			}
		}
		if level == 0 && !slices.Contains(sel.Uncovered, h) {
			sel.Uncovered = append(sel.Uncovered, h)
		}
	}
	slices.Sort(sel.Uncovered)
	for len(sel.ByHost) < len(best) {
		counts := map[int]int{}
		for h, idx := range best {
			if _, done := sel.ByHost[h]; done {
				continue
			}
			for _, i := range idx {
				counts[i]++
			}
		}
		pick := -1
		for i, n := range counts {
			if pick < 0 || better(usable[i], n, usable[pick], counts[pick]) {
				pick = i
			}
		}
		sel.ARNs = append(sel.ARNs, usable[pick].ARN)
		for h, idx := range best {
			if _, done := sel.ByHost[h]; !done && slices.Contains(idx, pick) {
				sel.ByHost[h] = usable[pick].ARN
			}
		}
	}
	return sel
}

func better(a model.Certificate, an int, b model.Certificate, bn int) bool {
	if an != bn {
		return an > bn
	}
	if !a.NotAfter.Equal(b.NotAfter) {
		return a.NotAfter.After(b.NotAfter)
	}
	return cmp.Less(a.ARN, b.ARN)
}
