package cli

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/raftha/raftha/api"
	"github.com/raftha/raftha/fsm"
	"github.com/raftha/raftha/internal/benchtable"
)

// BenchmarkStatusRender1000 renders `raftha status` for a cluster of
// three members and 1,000 online groups (what the status API returns for
// BenchmarkScale's cluster), and prints the median of 9 renders with its
// goal. Run with: make bench, or
// go test -run '^$' -bench BenchmarkStatusRender1000 -benchtime 1x ./cli/
func BenchmarkStatusRender1000(b *testing.B) {
	st := &api.Status{Leader: "n2", Term: 4, Index: 3463, AnsweredBy: "n1"}
	for _, id := range []string{"n1", "n2", "w1"} {
		st.Members = append(st.Members, api.MemberStatus{ID: id, Role: "node", Healthy: true, Address: "127.0.0.1:7400"})
	}
	for i := 0; i < 1000; i++ {
		st.Groups = append(st.Groups, api.GroupStatus{Name: fmt.Sprintf("g%04d", i), Owner: "n1", Epoch: uint64(19 + 3*i), State: fsm.StateOnline, Nodes: []string{"n1", "n2"}, Reason: "first healthy node of [n1 n2]"})
	}
	var ds []time.Duration
	var out bytes.Buffer
	for i := 0; i < 9; i++ {
		out.Reset()
		t0 := time.Now()
		printStatus(&out, st, 30)
		ds = append(ds, time.Since(t0))
	}
	for i := range ds { // insertion sort: 9 values
		for j := i; j > 0 && ds[j] < ds[j-1]; j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	verdict := "ok"
	if ds[4] > 100*time.Millisecond {
		verdict = "OVER GOAL"
	}
	fmt.Printf("scale %-44s %10s  goal <= %-8s %s (median of 9, %d KiB of output)\n", "raftha status rendering, 1000 groups", ds[4].Round(time.Microsecond), 100*time.Millisecond, verdict, out.Len()/1024)
	b.ReportMetric(ds[4].Seconds(), "render-s")
	benchtable.Print(benchtable.Row{Figure: "raftha status rendering, 1000 groups", Value: ds[4].Round(time.Microsecond).String(), Goal: "<= 100ms", Command: "make bench (BenchmarkStatusRender1000, ./cli)"})
}
