package inflight

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// add records messages with the given last indexes, each of size bytes.
func add(in *Inflights, bytes uint64, indexes ...uint64) {
	for _, i := range indexes {
		in.Add(i, bytes)
	}
}

// indexes lists the last indexes in flight, oldest first.
func (in *Inflights) indexes() []uint64 {
	var out []uint64
	for i := range in.count {
		out = append(out, in.buffer[in.pos(i)].index)
	}
	return out
}

func TestNewRejectsEmptyWindow(t *testing.T) {
	assert.PanicsWithValue(t, "inflight: maxCount must be positive, got 0", func() { New(0, 0) })
	assert.Panics(t, func() { New(-1, 10) })
}

func TestNewIsEmptyAndLazy(t *testing.T) {
	in := New(256, 0)
	assert.Zero(t, in.Count())
	assert.Zero(t, in.Bytes())
	assert.False(t, in.Full())
	assert.Nil(t, in.buffer, "no buffer before the first Add")
}

func TestFullByCount(t *testing.T) {
	in := New(3, 0)
	add(in, 10, 1, 2)
	assert.False(t, in.Full())
	add(in, 10, 3)
	assert.True(t, in.Full())
	assert.Equal(t, 3, in.Count())
	assert.Equal(t, uint64(30), in.Bytes())

	assert.PanicsWithValue(t,
		"inflight: Add(4) on a full window: 3 messages in flight, limit 3; check Full before sending",
		func() { in.Add(4, 10) })

	in.FreeLE(1)
	assert.False(t, in.Full())
}

func TestFullByBytes(t *testing.T) {
	in := New(10, 100)
	add(in, 40, 1, 2)
	assert.False(t, in.Full(), "80 of 100 bytes")
	add(in, 20, 3)
	assert.True(t, in.Full(), "exactly at the byte limit")

	in.FreeLE(1)
	assert.False(t, in.Full())
	assert.Equal(t, uint64(60), in.Bytes())

	// The byte limit is advisory for Add: one oversized message may go.
	add(in, 500, 4)
	assert.True(t, in.Full())
	assert.Equal(t, uint64(560), in.Bytes())
}

func TestNoByteLimit(t *testing.T) {
	in := New(2, 0)
	add(in, 1<<40, 1)
	assert.False(t, in.Full(), "maxBytes 0 means no byte limit")
}

func TestFreeLE(t *testing.T) {
	tests := []struct {
		name      string
		free      uint64
		wantIdx   []uint64
		wantBytes uint64
	}{
		{"none: below the oldest", 4, []uint64{5, 10, 15, 20}, 40},
		{"exactly the oldest", 5, []uint64{10, 15, 20}, 30},
		{"between two messages", 12, []uint64{15, 20}, 20},
		{"partial", 15, []uint64{20}, 10},
		{"all", 20, nil, 0},
		{"beyond the newest", 1000, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := New(10, 0)
			add(in, 10, 5, 10, 15, 20)
			in.FreeLE(tt.free)
			assert.Equal(t, tt.wantIdx, in.indexes())
			assert.Equal(t, len(tt.wantIdx), in.Count())
			assert.Equal(t, tt.wantBytes, in.Bytes())
		})
	}
}

func TestFreeLEOnEmpty(t *testing.T) {
	in := New(4, 0)
	in.FreeLE(100)
	assert.Zero(t, in.Count())
	assert.Zero(t, in.Bytes())
}

func TestAddOutOfOrderPanics(t *testing.T) {
	in := New(4, 0)
	add(in, 1, 5)
	add(in, 1, 5) // the same last index again is allowed
	assert.PanicsWithValue(t,
		"inflight: Add(4) after Add(5): messages must be added in increasing order of index",
		func() { in.Add(4, 1) })
}

// The ring wraps: with a full-size buffer, new messages reuse the slots of
// freed ones and come out in the order they went in.
func TestWrapAround(t *testing.T) {
	in := New(4, 0)
	add(in, 1, 1, 2, 3, 4)
	require.Len(t, in.buffer, 4)
	in.FreeLE(2)
	add(in, 1, 5, 6) // positions 0 and 1, behind 3 and 4 at 2 and 3
	assert.True(t, in.Full())
	assert.Equal(t, 2, in.start)
	assert.Equal(t, []uint64{3, 4, 5, 6}, in.indexes())

	in.FreeLE(4) // start wraps past the end of the buffer
	assert.Equal(t, 0, in.start)
	assert.Equal(t, []uint64{5, 6}, in.indexes())

	in.FreeLE(5)
	add(in, 1, 7, 8, 9)
	assert.Equal(t, []uint64{6, 7, 8, 9}, in.indexes())
	in.FreeLE(9)
	assert.Zero(t, in.Count())
	assert.Zero(t, in.Bytes())
}

// A buffer that grows while its contents wrap keeps them in order.
func TestGrowWhileWrapped(t *testing.T) {
	in := New(16, 0)
	add(in, 1, 1, 2, 3, 4) // buffer of 4, full
	in.FreeLE(2)
	add(in, 1, 5, 6) // wrapped: [5 6 3 4], start 2
	require.Len(t, in.buffer, 4)
	require.Equal(t, 2, in.start)

	add(in, 1, 7) // grows to 8 and unwraps
	assert.Len(t, in.buffer, 8)
	assert.Equal(t, 0, in.start)
	assert.Equal(t, []uint64{3, 4, 5, 6, 7}, in.indexes())
}

func TestBufferGrowsLazilyUpToMaxCount(t *testing.T) {
	in := New(10, 0)
	var lens []int
	for i := uint64(1); i <= 10; i++ {
		in.Add(i, 1)
		lens = append(lens, len(in.buffer))
	}
	assert.Equal(t, []int{4, 4, 4, 4, 8, 8, 8, 8, 10, 10}, lens)
	assert.True(t, in.Full())

	small := New(2, 0)
	small.Add(1, 1)
	assert.Len(t, small.buffer, 2, "never larger than maxCount")
}

// A follower that keeps few messages in flight never makes the buffer grow
// to the full window, however many messages pass through.
func TestShallowPipelineKeepsBufferSmall(t *testing.T) {
	in := New(256, 0)
	for i := uint64(1); i <= 10000; i++ {
		in.Add(i, 100)
		if i > 3 {
			in.FreeLE(i - 3)
		}
	}
	assert.Equal(t, 3, in.Count())
	assert.Len(t, in.buffer, 4)
}

func TestReset(t *testing.T) {
	in := New(4, 100)
	add(in, 30, 1, 2, 3, 4)
	in.FreeLE(1)
	add(in, 30, 5)
	require.True(t, in.Full())
	buf := in.buffer

	in.Reset()
	assert.Zero(t, in.Count())
	assert.Zero(t, in.Bytes())
	assert.False(t, in.Full())
	assert.Same(t, &buf[0], &in.buffer[0], "Reset keeps the buffer")

	// After a reset the index order starts afresh.
	add(in, 30, 1, 2)
	assert.Equal(t, []uint64{1, 2}, in.indexes())
}

func TestClone(t *testing.T) {
	in := New(4, 100)
	add(in, 10, 1, 2, 3, 4)
	in.FreeLE(2)
	add(in, 10, 5) // wrapped
	c := in.Clone()

	assert.Equal(t, in.indexes(), c.indexes())
	assert.Equal(t, in.Count(), c.Count())
	assert.Equal(t, in.Bytes(), c.Bytes())
	assert.Equal(t, in.Full(), c.Full())

	// The copy is independent in both directions.
	in.FreeLE(4)
	add(in, 10, 6, 7)
	c.Add(6, 50)
	assert.Equal(t, []uint64{5, 6, 7}, in.indexes())
	assert.Equal(t, []uint64{3, 4, 5, 6}, c.indexes())
	assert.Equal(t, uint64(80), c.Bytes())
	assert.True(t, c.Full(), "the clone keeps the limits")
	assert.Panics(t, func() { c.Add(7, 1) })

	empty := New(8, 0).Clone()
	assert.Zero(t, empty.Count())
	empty.Add(1, 1)
	assert.Equal(t, []uint64{1}, empty.indexes())
}

func TestSteadyStateDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	in := New(256, 1<<20)
	i := uint64(0)
	step := func() {
		i++
		in.Add(i, 1000)
		if i > 64 {
			in.FreeLE(i - 64)
		}
	}
	for range 1000 { // warm up: grow the buffer to its working size
		step()
	}
	assert.Zero(t, testing.AllocsPerRun(1000, step))
}

func BenchmarkAddFreeLE(b *testing.B) {
	for _, window := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			in := New(256, 0)
			i := uint64(0)
			for range window - 1 { // fill to one below the window
				i++
				in.Add(i, 1024)
			}
			b.ReportAllocs()
			for b.Loop() {
				i++
				in.Add(i, 1024)
				in.FreeLE(i - uint64(window) + 1)
			}
		})
	}
}

func TestFreeFirstOne(t *testing.T) {
	in := New(3, 0)
	in.FreeFirstOne() // empty: no-op
	require.Equal(t, 0, in.Count())
	in.Add(5, 10)
	in.Add(7, 20)
	in.Add(9, 30)
	require.True(t, in.Full())
	in.FreeFirstOne()
	require.False(t, in.Full())
	require.Equal(t, 2, in.Count())
	require.Equal(t, uint64(50), in.Bytes())
	in.FreeLE(8)
	require.Equal(t, 1, in.Count())
	require.Equal(t, uint64(30), in.Bytes())
}
