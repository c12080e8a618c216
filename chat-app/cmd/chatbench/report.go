package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

type envInfo struct {
	Start              time.Time
	LoadStart, LoadEnd string
	CPUs               int
	GoVersion          string
}

type report struct {
	o       options
	env     envInfo
	results []*result    // scenario (b), fanout: ours and Centrifugo
	sweep   *sweepResult // scenario (b) as a rate sweep (-sweep)

	conns           *connResult // scenario (a), connections
	twoNodes        *result     // scenario (c), two gateways over Redis
	twoNodesSkipped string      // why (c) did not run
}

func (r *report) find(name string) *result {
	for _, x := range r.results {
		if x.name == name {
			return x
		}
	}
	return nil
}

// table is the results as Markdown table rows (it reads fine in a terminal too).
func (r *report) table() string { return tableOf(r.results) }

func tableOf(results []*result) string {
	var b strings.Builder
	b.WriteString("| system | delivered msgs/s | p50 | p99 | p99.9 | max | deliveries / expected | publishes ok / offered | publish errors | publish p50 | publish p99 | closed sockets | server CPU s | server RSS MiB |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range results {
		fmt.Fprintf(&b, "| %s | %.0f | %s | %s | %s | %s | %d / %d | %d / %d | %d | %s | %s | %d | %.1f | %.0f |\n",
			x.name, x.rate(), fmtDur(x.lat.p50), fmtDur(x.lat.p99), fmtDur(x.lat.p999), fmtDur(x.lat.max),
			x.sentIn, x.expected(), x.published, x.offered, x.pubErrors, fmtDur(x.pubP50), fmtDur(x.pubP99),
			x.closed, x.cpuSeconds, x.rssMB)
	}
	return b.String()
}

func verdict(ok bool) string {
	if ok {
		return "reached"
	}
	return "NOT reached"
}

// verdicts are the comparison and the targets, one line each.
func (r *report) verdicts() []string {
	ours := r.find(nameOurs)
	var out []string
	peer := r.find(nameCentrifugo)
	if peer != nil && peer.rate() > 0 {
		out = append(out, fmt.Sprintf("ours/centrifugo delivered msgs/s = %.2f× (%.0f vs %.0f); p99 %s vs %s",
			ours.rate()/peer.rate(), ours.rate(), peer.rate(), fmtDur(ours.lat.p99), fmtDur(peer.lat.p99)))
	}
	t1 := ours.rate() >= targetDelivered && ours.lat.p99 > 0 && ours.lat.p99 < targetP99
	line := fmt.Sprintf("target ≥ %.0f delivered msgs/s with p99 < %s on one node: %s (%.0f msgs/s, p99 %s)",
		targetDelivered, targetP99, verdict(t1), ours.rate(), fmtDur(ours.lat.p99))
	if offered := r.o.rate * float64(r.o.receivers); offered < targetDelivered {
		line += fmt.Sprintf(" — the offered load is only %.0f deliveries/s (-rate × -receivers), so this run cannot reach it", offered)
	}
	out = append(out, line)
	if peer == nil {
		out = append(out, "target ≥ 1.0× Centrifugo at equal or lower p99: not measured (-skip-centrifugo)")
	} else {
		t2 := peer.rate() > 0 && ours.rate()/peer.rate() >= 1.0 && ours.lat.p99 <= peer.lat.p99
		out = append(out, fmt.Sprintf("target ≥ 1.0× Centrifugo at equal or lower p99: %s", verdict(t2)))
	}
	return out
}

func (r *report) setup() string {
	return fmt.Sprintf("%d receivers on one node, %.0f publishes/s open loop (%.0f deliveries/s offered), %v warm-up + %v measured; "+
		"ours: store %s; machine: %d CPUs, %s, load average %s at start, %s at end (the harness shares the machine)",
		r.o.receivers, r.o.rate, r.o.rate*float64(r.o.receivers), r.o.warmup, r.o.duration, storeName(r.o),
		r.env.CPUs, r.env.GoVersion, r.env.LoadStart, r.env.LoadEnd)
}

func (r *report) print(w io.Writer) {
	if r.sweep != nil {
		r.sweep.print(w)
		fmt.Fprintf(w, "machine: %d CPUs, %s, load average %s at start, %s at end\n", r.env.CPUs, r.env.GoVersion, r.env.LoadStart, r.env.LoadEnd)
	}
	if len(r.results) > 0 {
		fmt.Fprintf(w, "\nchat-app vs Centrifugo, scenario (b) fan-out: %s\n\n", r.setup())
		fmt.Fprint(w, r.table())
		fmt.Fprintln(w)
		for _, v := range r.verdicts() {
			fmt.Fprintln(w, v)
		}
	}
	if r.conns != nil {
		fmt.Fprintf(w, "\nchat-app, scenario (a) connections: %s\n\n", r.conns.setup(r.env))
		fmt.Fprint(w, r.conns.table())
		for _, n := range r.conns.notes() {
			fmt.Fprintln(w, n)
		}
	}
	if r.twoNodes != nil || r.twoNodesSkipped != "" {
		fmt.Fprintf(w, "\nchat-app, scenario (c) two gateways over Redis: %s\n\n", r.twoNodesSetup())
		if r.twoNodes == nil {
			fmt.Fprintf(w, "skipped: %s\n", r.twoNodesSkipped)
		} else {
			fmt.Fprint(w, tableOf([]*result{r.twoNodes}))
		}
	}
}

func (r *report) twoNodesSetup() string {
	return fmt.Sprintf("%d receivers split over 2 chat-gateway processes, senders on gateway 1, 1 chat-api, Redis bus, PostgreSQL store; "+
		"%.0f publishes/s open loop (%.0f deliveries/s offered), %v warm-up + %v measured; machine: %d CPUs, %s",
		r.o.receivers, r.o.rate, r.o.rate*float64(r.o.receivers), r.o.warmup, r.o.duration, r.env.CPUs, r.env.GoVersion)
}

func (r *report) writeMarkdown(path string) error {
	var b strings.Builder
	if len(r.results) > 0 && r.conns == nil && r.twoNodes == nil && r.twoNodesSkipped == "" {
		fmt.Fprintf(&b, "# chat-app vs Centrifugo: fan-out to a group on one node\n\n")
	} else {
		fmt.Fprintf(&b, "# chat-app benchmarks\n\n")
	}
	fmt.Fprintf(&b, "Generated by `go run ./chat-app/cmd/chatbench %s` on %s.\n\n", strings.Join(argsOf(r.o), " "), r.env.Start.Format(time.RFC3339))
	if r.sweep != nil {
		r.sweep.print(&b)
		fmt.Fprintf(&b, "\nMachine: %d CPUs, %s, load average %s at start, %s at end.\n", r.env.CPUs, r.env.GoVersion, r.env.LoadStart, r.env.LoadEnd)
	}
	if len(r.results) > 0 {
		if r.conns != nil || r.twoNodes != nil || r.twoNodesSkipped != "" {
			b.WriteString("## (b) Fan-out: chat-app vs Centrifugo\n\n")
		}
		r.fanoutMarkdown(&b)
	}
	if r.conns != nil {
		if len(r.results) > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "## (a) Connections on one node\n\nSetup: %s.\n\n", r.conns.setup(r.env))
		b.WriteString(`How it measures: the one-process server (cmd/chat, in-memory store) is started with the
benchmark's raised file-descriptor limit; users sign up over HTTP and every connection is one of
their devices, authenticated with the user's bearer token, kept reading (and sent one application
ping once all are open) so none is closed as a slow consumer or idle. *Server RSS* is VmRSS of /proc/<pid>/status, before the
first connection and a few seconds after the last one; memory per connection is the difference
divided by the connections held. The load generator shares the machine.

`)
		b.WriteString(r.conns.table())
		for _, n := range r.conns.notes() {
			fmt.Fprintf(&b, "\n- %s", n)
		}
		b.WriteString("\n")
	}
	if r.twoNodes != nil || r.twoNodesSkipped != "" {
		if len(r.results) > 0 || r.conns != nil {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "## (c) Two gateways over Redis\n\nSetup: %s.\n\n", r.twoNodesSetup())
		if r.twoNodes == nil {
			fmt.Fprintf(&b, "Skipped: %s.\n", r.twoNodesSkipped)
		} else {
			fmt.Fprintf(&b, "- **%s**: %s.\n\n", r.twoNodes.name, r.twoNodes.detail)
			b.WriteString(`How it measures: the open-loop schedule of (b); the sends go over WebSockets to gateway 1 (spread
round-robin over several members' sockets there, because the gateway limits sends per user), are
stored in PostgreSQL and fan out through Redis pub/sub to the receivers on both gateways;
*publish p50/p99* runs from the scheduled time to the sender's ack. Server CPU and RSS are the sum
of the three processes.

`)
			b.WriteString(tableOf([]*result{r.twoNodes}))
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (r *report) fanoutMarkdown(b *strings.Builder) {
	fmt.Fprintf(b, "Setup: %s.\n\n", r.setup())
	for _, x := range r.results {
		fmt.Fprintf(b, "- **%s**: %s.\n", x.name, x.detail)
	}
	b.WriteString(`
How it measures: both systems get the same open-loop publish schedule from the shared load
generator (shared/loadgen); each publish carries its scheduled send time (so a publisher that falls
behind shows as latency, not as a lower rate). Ours: one sender WebSocket sends into a group
conversation whose members each have a synced receiver socket; every message is stored before it
fans out. Centrifugo: HTTP POST /api/publish into one channel whose subscribers are JSON-protocol
WebSocket clients. *Delivered msgs/s* counts deliveries arriving inside the measured window;
latency (p50 to max) is send→receive of the messages scheduled inside it, over every receiver.
*Publish p50/p99* is the publisher's view, from the scheduled time to the answer: our ack frame
(sent once the message is stored) or Centrifugo's 200; publish errors are refusals (error frames,
non-200s), timeouts (10 s) and publishes dropped with 10 000 outstanding. Servers, load generator
and receivers share one machine.

`)
	b.WriteString(r.table())
	b.WriteString("\n")
	for _, v := range r.verdicts() {
		fmt.Fprintf(b, "- %s\n", v)
	}
}

func argsOf(o options) []string {
	a := []string{fmt.Sprintf("-rate %.0f", o.rate), "-duration " + o.duration.String(), "-warmup " + o.warmup.String(),
		fmt.Sprintf("-receivers %d", o.receivers)}
	if o.skipCentrifugo && o.runs(scenarioFanout) {
		a = append(a, "-skip-centrifugo")
	}
	if o.scenario != scenarioFanout {
		a = append(a, "-scenario "+o.scenario)
	}
	if o.runs(scenarioFanout) {
		a = append(a, "-senders "+o.senders, fmt.Sprintf("-publishers %d", o.publishers))
		if len(o.sweep) > 0 {
			rates := make([]string, len(o.sweep))
			for i, r := range o.sweep {
				rates[i] = fmt.Sprintf("%.0f", r)
			}
			a = append(a, "-sweep "+strings.Join(rates, ","), fmt.Sprintf("-runs %d", o.repeat))
		}
	}
	if o.runs(scenarioConnections) {
		a = append(a, fmt.Sprintf("-conns %d", o.conns))
	}
	return a
}
