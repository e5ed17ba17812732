// Command vectorgen pins evalstream's TraceIdSampler to the real Collector.
//
// It builds the contrib probabilistic_sampler processor through its own factory, configured
// like a Collector YAML would (mode: hash_seed, sampling_percentage, hash_seed), feeds it
// one span per chosen trace id through ConsumeTraces into a consumertest.TracesSink, and
// writes which trace ids came out the other side:
//
//	go run . > ../testdata/hash_seed_vectors.csv
//
// The Python test (tests/sampler/test_trace_id.py) replays every row; CI never needs Go.
package main

import (
	"context"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"log"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"

	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"

	pss "github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"
)

// Percentages as an operator writes them in YAML (decimal text, decoded like the Collector does).
var percents = []string{
	"0", "0.0061", "0.0062", "0.01", "0.1", "1", "5", "12.5", "25", "33.3", "50", "66.6",
	"99.99", "100",
}

var seeds = []uint32{0, 1, 22, 12345, 0xFFFFFFFF}

const randomIDsPerCase = 40

// bucket is used only to CHOOSE trace ids that sit right at a threshold; every decision in
// the CSV comes from the processor itself.
func bucket(seed uint32, tid [16]byte) uint32 {
	h := fnv.New32a()
	var s [4]byte
	binary.LittleEndian.PutUint32(s[:], seed)
	_, _ = h.Write(s[:])
	_, _ = h.Write(tid[:])
	return h.Sum32() & 0x3FFF
}

// float32Scaled mirrors uint32(pct * percentageScaleFactor) only to find the boundary to probe.
func float32Scaled(pct float32) uint32 { return uint32(pct * float32(163.84)) }

// extraPercents finds percentages (four decimals) whose float32 threshold differs from the exact
// decimal floor(p * 16384 / 100), spread over the range: the rows that catch a float64 re-implementation.
func extraPercents(n int) []string {
	var found []string
	for k := 1; k < 1000000; k++ {
		text := strconv.FormatFloat(float64(k)/10000, 'f', -1, 64)
		f, _ := strconv.ParseFloat(text, 64)
		exact := uint32(k * 16384 / 1000000)
		if float32Scaled(float32(f)) != exact {
			found = append(found, text)
		}
	}
	var out []string
	for i := 0; i < n && len(found) > 0; i++ {
		out = append(out, found[i*(len(found)-1)/max(n-1, 1)])
	}
	return out
}

func main() {
	rng := rand.New(rand.NewPCG(20261129, 7))
	randomID := func() [16]byte {
		var t [16]byte
		for {
			binary.BigEndian.PutUint64(t[:8], rng.Uint64())
			binary.BigEndian.PutUint64(t[8:], rng.Uint64())
			if t != ([16]byte{}) {
				return t
			}
		}
	}
	fixed := [][16]byte{}
	for _, hexID := range []string{
		"ffffffffffffffffffffffffffffffff", "00000000000000000000000000000001",
		"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c",
		"80000000000000000000000000000000", "0123456789abcdef0123456789abcdef",
	} {
		var t [16]byte
		b, _ := hex.DecodeString(hexID)
		copy(t[:], b)
		fixed = append(fixed, t)
	}

	all := append(append([]string{}, percents...), extraPercents(6)...)
	w := csv.NewWriter(os.Stdout)
	_ = w.Write([]string{"seed", "percent", "trace_id_hex", "kept"})
	ctx := context.Background()
	factory := pss.NewFactory()
	for _, seed := range seeds {
		for _, pctText := range all {
			pct, _ := strconv.ParseFloat(pctText, 64)
			cfg := factory.CreateDefaultConfig()
			conf := confmap.NewFromStringMap(map[string]any{
				"mode":                "hash_seed",
				"sampling_percentage": pct,
				"hash_seed":           seed,
			})
			if err := conf.Unmarshal(cfg); err != nil {
				log.Fatalf("config %v/%v: %v", seed, pctText, err)
			}
			sink := new(consumertest.TracesSink)
			proc, err := factory.CreateTraces(ctx, processortest.NewNopSettings(factory.Type()), cfg, sink)
			if err != nil {
				log.Fatal(err)
			}
			if err := proc.Start(ctx, nil); err != nil {
				log.Fatal(err)
			}

			ids := append([][16]byte{}, fixed...)
			for range randomIDsPerCase {
				ids = append(ids, randomID())
			}
			// Probe the boundary: ids hashing to the last kept bucket and the first dropped one.
			scaled := float32Scaled(float32(pct))
			for _, want := range []uint32{scaled - 1, scaled, scaled + 1, 0, 0x3FFF} {
				if want > 0x3FFF {
					continue
				}
				for {
					t := randomID()
					if bucket(seed, t) == want {
						ids = append(ids, t)
						break
					}
				}
			}

			td := ptrace.NewTraces()
			ss := td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty()
			for i, t := range ids {
				span := ss.Spans().AppendEmpty()
				span.SetTraceID(pcommon.TraceID(t))
				var sid [8]byte
				binary.BigEndian.PutUint64(sid[:], uint64(i+1))
				span.SetSpanID(pcommon.SpanID(sid))
				span.SetName("probe")
			}
			if err := proc.ConsumeTraces(ctx, td); err != nil {
				log.Fatal(err)
			}
			kept := map[[16]byte]bool{}
			for _, out := range sink.AllTraces() {
				rss := out.ResourceSpans()
				for i := 0; i < rss.Len(); i++ {
					sss := rss.At(i).ScopeSpans()
					for j := 0; j < sss.Len(); j++ {
						spans := sss.At(j).Spans()
						for k := 0; k < spans.Len(); k++ {
							kept[[16]byte(spans.At(k).TraceID())] = true
						}
					}
				}
			}
			_ = proc.Shutdown(ctx)
			sort.Slice(ids, func(a, b int) bool { return hex.EncodeToString(ids[a][:]) < hex.EncodeToString(ids[b][:]) })
			for _, t := range ids {
				k := "0"
				if kept[t] {
					k = "1"
				}
				_ = w.Write([]string{fmt.Sprint(seed), pctText, hex.EncodeToString(t[:]), k})
			}
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		log.Fatal(err)
	}
}
