package server

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
)

var (
	descBuildInfo = prometheus.NewDesc("raftha_build_info", "Always 1; the labels say which raftha build this member runs.", []string{"version", "revision", "goversion"}, nil)
	descSuspended = prometheus.NewDesc("raftha_group_suspended", "1 while a group is suspended (maintenance: no monitoring, no automatic action), as this member's log has it.", []string{"group"}, nil)
)

// buildInfo returns the version, VCS revision and Go version of this
// binary: the version is api.Version (set at build time with -ldflags),
// "devel" when it is empty; the revision is "" when the build recorded
// none (go test, go run).
func buildInfo() (version, revision, goversion string) {
	version, goversion = api.Version, runtime.Version()
	if version == "" {
		version = "devel"
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		goversion = bi.GoVersion
		for _, kv := range bi.Settings {
			if kv.Key == "vcs.revision" {
				revision = kv.Value
			}
		}
	}
	return version, revision, goversion
}

// opsCollector exports the day-two gauges: the build and each group's
// maintenance flag.
type opsCollector struct {
	s *Server
	// build holds version, revision and goversion, read once.
	build [3]string
}

func newOpsCollector(s *Server) *opsCollector {
	v, r, g := buildInfo()
	return &opsCollector{s: s, build: [3]string{v, r, g}}
}

// Describe implements prometheus.Collector.
func (c *opsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBuildInfo
	ch <- descSuspended
}

// Collect implements prometheus.Collector.
func (c *opsCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descBuildInfo, prometheus.GaugeValue, 1, c.build[:]...)
	if c.s.fsm == nil {
		return
	}
	// Copy under the lock, send after: a slow scrape must not hold up
	// the FSM.
	suspended := map[string]float64{}
	c.s.fsm.Read(func(st *fsm.State) {
		for name, g := range st.Groups {
			suspended[name] = 0
			if g.Status.Suspended {
				suspended[name] = 1
			}
		}
	})
	for name, v := range suspended {
		ch <- prometheus.MustNewConstMetric(descSuspended, prometheus.GaugeValue, v, name)
	}
}
