package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/raftha/raftha/transport"
)

// Certificate kinds, the label of descCertExpiry.
const (
	certKindMember = "member" // this member's own certificate
	certKindCA     = "ca"     // the cluster CA (the earliest to expire, if several)
)

var descCertExpiry = prometheus.NewDesc("raftha_certificate_expiry_timestamp_seconds",
	"When this member's certificate (kind=member) or the cluster CA certificate (kind=ca) expires, as a Unix time.",
	[]string{"kind"}, nil)

// certCollector reports the expiry of the certificates the member loaded.
type certCollector struct{ b *transport.Bundle }

// Describe implements prometheus.Collector.
func (c *certCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descCertExpiry }

// Collect implements prometheus.Collector.
func (c *certCollector) Collect(ch chan<- prometheus.Metric) {
	if c.b == nil {
		return
	}
	if leaf := c.b.Certificate.Leaf; leaf != nil {
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(leaf.NotAfter.Unix()), certKindMember)
	}
	var first int64
	for i, ca := range c.b.CACerts {
		if t := ca.NotAfter.Unix(); i == 0 || t < first {
			first = t
		}
	}
	if len(c.b.CACerts) > 0 {
		ch <- prometheus.MustNewConstMetric(descCertExpiry, prometheus.GaugeValue, float64(first), certKindCA)
	}
}
