module github.com/keelraft/raft/bench/etcd36

go 1.26

require (
	github.com/keelraft/raft v0.0.0-00010101000000-000000000000
	go.etcd.io/raft/v3 v3.6.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/golang/protobuf v1.5.4 // indirect
	github.com/hashicorp/go-msgpack/v2 v2.1.5 // indirect
	google.golang.org/protobuf v1.33.0 // indirect
)

replace github.com/keelraft/raft => ../../
