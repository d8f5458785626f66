package server

import "github.com/keelraft/raft/example/kv/transport"

// newTransport starts the node's transport; tests may replace it.
var newTransport = func(c transportConfig) (peerTransport, error) {
	return transport.New(transport.Config{
		ID:            c.ID,
		ListenAddr:    c.ListenAddr,
		AdvertiseHTTP: c.AdvertiseHTTP,
		Raft:          c.Raft,
		Logger:        c.Logger,
	})
}

var _ peerTransport = (*transport.Transport)(nil)
