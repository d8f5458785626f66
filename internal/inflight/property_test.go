package inflight

import (
	"testing"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// model is the obvious implementation: a slice of in-flight messages.
type model struct {
	maxCount int
	maxBytes uint64
	msgs     []entry
}

func (m *model) bytes() uint64 {
	var n uint64
	for _, e := range m.msgs {
		n += e.bytes
	}
	return n
}

func (m *model) full() bool {
	return len(m.msgs) >= m.maxCount || (m.maxBytes > 0 && m.bytes() >= m.maxBytes)
}

func (m *model) freeLE(idx uint64) {
	i := 0
	for i < len(m.msgs) && m.msgs[i].index <= idx {
		i++
	}
	m.msgs = m.msgs[i:]
}

func (m *model) indexes() []uint64 {
	var out []uint64
	for _, e := range m.msgs {
		out = append(out, e.index)
	}
	return out
}

// check compares in with the model, including the messages in order.
func (m *model) check(t *rapid.T, in *Inflights) {
	require.Equal(t, len(m.msgs), in.Count(), "Count")
	require.Equal(t, m.bytes(), in.Bytes(), "Bytes")
	require.Equal(t, m.full(), in.Full(), "Full")
	require.Equal(t, m.indexes(), in.indexes(), "messages in flight")
	require.LessOrEqual(t, len(in.buffer), m.maxCount, "buffer beyond maxCount")
}

// TestInflightsMatchesModel drives an Inflights and the slice model with the
// same random operations, the way the leader would: Add only when not Full,
// indexes increasing, acknowledgements anywhere around the window.
func TestInflightsMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		m := &model{
			maxCount: rapid.IntRange(1, 20).Draw(t, "maxCount"),
			maxBytes: rapid.OneOf(rapid.Just[uint64](0), rapid.Uint64Range(1, 200)).Draw(t, "maxBytes"),
		}
		in := New(m.maxCount, m.maxBytes)
		var clones []struct {
			in *Inflights
			m  model
		}
		next := uint64(1) // the next index to send

		t.Repeat(map[string]func(*rapid.T){
			"Add": func(t *rapid.T) {
				if in.Full() {
					t.Skip("the leader does not send when full")
				}
				next += rapid.Uint64Range(0, 3).Draw(t, "gap")
				b := rapid.Uint64Range(0, 60).Draw(t, "bytes")
				in.Add(next, b)
				m.msgs = append(m.msgs, entry{index: next, bytes: b})
			},
			"FreeLE": func(t *rapid.T) {
				// Anywhere from well below the window to past its end.
				idx := rapid.Uint64Range(0, next+2).Draw(t, "index")
				in.FreeLE(idx)
				m.freeLE(idx)
			},
			"FreeOldest": func(t *rapid.T) {
				// Acknowledge one message at a time, which keeps the window
				// deep and makes the ring wrap (and grow while wrapped).
				if len(m.msgs) == 0 {
					t.Skip("nothing in flight")
				}
				idx := m.msgs[0].index
				in.FreeLE(idx)
				m.freeLE(idx)
			},
			"Reset": func(t *rapid.T) {
				in.Reset()
				m.msgs = nil
			},
			"Clone": func(t *rapid.T) {
				c := in.Clone()
				cm := model{maxCount: m.maxCount, maxBytes: m.maxBytes, msgs: append([]entry(nil), m.msgs...)}
				cm.check(t, c)
				clones = append(clones, struct {
					in *Inflights
					m  model
				}{c, cm})
			},
			"": func(t *rapid.T) {
				m.check(t, in)
				for i := range clones { // later changes to in never show in a clone
					clones[i].m.check(t, clones[i].in)
				}
			},
		})
	})
}

// TestAddPanicsExactlyWhenFullByCount checks the panic against the model:
// Add on a window full by count panics and changes nothing.
func TestAddPanicsExactlyWhenFullByCount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		maxCount := rapid.IntRange(1, 10).Draw(t, "maxCount")
		n := rapid.IntRange(0, maxCount).Draw(t, "n")
		in := New(maxCount, 0)
		for i := range n {
			in.Add(uint64(i+1), 1)
		}
		if n == maxCount {
			require.Panics(t, func() { in.Add(uint64(n+1), 1) })
			require.Equal(t, n, in.Count())
			require.Equal(t, uint64(n), in.Bytes())
		} else {
			require.NotPanics(t, func() { in.Add(uint64(n+1), 1) })
		}
	})
}
