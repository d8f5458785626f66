package main

import (
	"bytes"
	"io"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseServe(t *testing.T) {
	o, err := parseServe([]string{
		"--id", "2", "--peers", "1=127.0.0.1:7001, 2=127.0.0.1:7002,3=127.0.0.1:7003",
		"--http", ":8002", "--data", "/tmp/x", "--join", "--snapshot-every", "50",
		"--max-value", "4096", "--debug-faults", "--pprof", "127.0.0.1:6061",
	}, io.Discard)
	require.NoError(t, err)
	c := o.cfg
	require.EqualValues(t, 2, c.ID)
	require.Equal(t, map[uint64]string{1: "127.0.0.1:7001", 2: "127.0.0.1:7002", 3: "127.0.0.1:7003"}, c.Peers)
	require.Equal(t, ":8002", c.ListenHTTP)
	require.Equal(t, "/tmp/x", c.DataDir)
	require.True(t, c.Join)
	require.True(t, c.DebugFaults)
	require.EqualValues(t, 50, c.SnapshotEvery)
	require.Equal(t, 4096, c.MaxValueSize)
	require.Equal(t, "127.0.0.1:6061", o.pprof)
}

func TestParseServeRefusesBadFlags(t *testing.T) {
	good := []string{"--id", "1", "--peers", "1=127.0.0.1:7001", "--http", ":8001", "--data", "d"}
	for _, args := range [][]string{
		{},
		{"--id", "0", "--peers", "1=127.0.0.1:7001", "--http", ":8001", "--data", "d"},
		{"--id", "70000", "--peers", "1=127.0.0.1:7001", "--http", ":8001", "--data", "d"},
		{"--id", "x"},
		{"--id", "1", "--http", ":8001", "--data", "d"},
		{"--id", "1", "--peers", "1=nope", "--http", ":8001", "--data", "d"},
		{"--id", "1", "--peers", "1:127.0.0.1:7001", "--http", ":8001", "--data", "d"},
		{"--id", "1", "--peers", "1=127.0.0.1:7001,1=127.0.0.1:7002", "--http", ":8001", "--data", "d"},
		{"--id", "2", "--peers", "1=127.0.0.1:7001", "--http", ":8001", "--data", "d"},
		{"--id", "1", "--peers", "1=127.0.0.1:7001", "--data", "d"},
		{"--id", "1", "--peers", "1=127.0.0.1:7001", "--http", "8001", "--data", "d"},
		{"--id", "1", "--peers", "1=127.0.0.1:7001", "--http", ":8001"},
		append(good, "--max-value", "0"),
		append(good, "--snapshot-every", "0"),
		append(good, "--bogus"),
		append(good, "extra"),
	} {
		_, err := parseServe(args, io.Discard)
		require.Error(t, err, "%q", args)
		var uerr usageError
		require.ErrorAs(t, err, &uerr, "%q", args)
	}
}

func TestParseLocalAndBench(t *testing.T) {
	o, err := parseLocal(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 8000, o.basePort)
	require.Equal(t, "kv-data", o.dataDir)
	o, err = parseLocal([]string{"--base-port", "20000", "--data", "/tmp/d"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 20000, o.basePort)
	_, err = parseLocal([]string{"--base-port", "65500"}, io.Discard)
	require.ErrorAs(t, err, new(usageError))

	b, err := parseBench([]string{"--endpoints", "127.0.0.1:1,http://h:2", "--clients", "8", "--duration", "2s", "--value-size", "10"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"http://127.0.0.1:1", "http://h:2"}, b.endpoints)
	require.Equal(t, 8, b.clients)
	require.Equal(t, 2*time.Second, b.duration)
	require.Equal(t, 10, b.valueSize)
	require.Equal(t, 1, b.conns, "workers share one client by default")
	require.Equal(t, ".", b.fsyncDir)
	require.False(t, b.noCalibrate)
	b, err = parseBench([]string{"--clients", "8", "--conns", "4", "--fsync-dir", "/d", "--no-calibrate"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 4, b.conns)
	require.Equal(t, "/d", b.fsyncDir)
	require.True(t, b.noCalibrate)
	for _, bad := range [][]string{{"--clients", "0"}, {"--conns", "0"}, {"--clients", "2", "--conns", "3"}} {
		_, err = parseBench(bad, io.Discard)
		require.ErrorAs(t, err, new(usageError), "%v", bad)
	}
}

// Bad flags and unknown commands exit with status 2 and say why; -h
// prints the flags and exits 0.
func TestRunExitStatus(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, exitUsage, run([]string{"serve", "--id", "x"}, &out, &errOut))
	require.Contains(t, errOut.String(), "invalid value")
	errOut.Reset()
	require.Equal(t, exitUsage, run([]string{"frobnicate"}, &out, &errOut))
	require.Contains(t, errOut.String(), "unknown command")
	errOut.Reset()
	require.Equal(t, exitUsage, run([]string{"--base-port", "-1"}, &out, &errOut))
	errOut.Reset()
	require.Equal(t, exitOK, run([]string{"serve", "-h"}, &out, &errOut))
	require.Contains(t, errOut.String(), "-snapshot-every")
	require.Equal(t, exitOK, run([]string{"help"}, &out, &errOut))
	require.Contains(t, out.String(), "kv serve")
}

// The kv processes raise GOGC unless the environment sets it.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	setGCPercent(func(string) string { return "" })
	require.Equal(t, gcPercent, debug.SetGCPercent(100))
	setGCPercent(func(string) string { return "50" })
	require.Equal(t, 100, debug.SetGCPercent(100), "GOGC in the environment wins")
}
