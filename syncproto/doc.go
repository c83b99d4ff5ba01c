// Package syncproto is the gridsync sync protocol: the wire types a device
// pushes and pulls, the hybrid logical clock that orders writes, the merge
// rules that make every replica converge, and the collection declarations
// that say what may be written and by whom.
//
// The package is shared by the server and the device SDK so that both sides
// run the very same rules. It is pure: no I/O, no network, no SQL and no
// goroutines. Everything here is deterministic given its inputs, which is
// what lets two replicas that saw the same operations compute the same state.
//
// The protocol is described for third-party client authors in
// docs/PROTOCOL.md; the doc comments below are the normative source.
package syncproto

// ProtocolVersion is the version of the wire protocol described by this
// package. Every request and response carries it; a peer speaking another
// version is refused with CodeUnsupportedProtocol rather than guessed at,
// because a misread operation could corrupt a record silently.
const ProtocolVersion = 1
