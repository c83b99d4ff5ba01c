package syncproto

// Limits of the protocol. They are part of the wire contract: a client that
// stays inside them is never refused for size, and the server enforces every
// one of them before doing any work. They are sized for cheap Android phones
// on patchy links, where one push must finish in a few seconds.
const (
	// MaxOpsPerPush is the largest number of operations in one push. A
	// device with a longer outbox sends it in several pushes; keeping each
	// push small means a dropped connection costs little to retry.
	MaxOpsPerPush = 500

	// MaxMissing is the most seqs a push response lists as missing (not
	// received although higher seqs were): enough to name every op of a
	// push sent out of order.
	MaxMissing = MaxOpsPerPush

	// MaxPushBytes is the largest push request body, in bytes (4 MiB). It
	// is larger than MaxOpsPerPush operations of typical size need, and small
	// enough that the server can decode a push in memory without risk.
	MaxPushBytes = 4 << 20

	// MaxStringLen is the largest TypeString value and set element, in
	// runes (not bytes, so Chinese text gets the same room as Latin text).
	MaxStringLen = 200

	// MaxTextLen is the largest TypeText value, in runes: enough for a
	// hazard description or an inspection note, not for a document.
	MaxTextLen = 4000

	// MaxSetElemsPerOp is the largest number of set elements one operation
	// may add plus remove, over all its set fields. Ten photos per check are
	// common; fifty leaves room without letting one op grow a record
	// without bound.
	MaxSetElemsPerOp = 50

	// MaxFieldsPerOp is the largest number of distinct fields one operation
	// may touch (set, add/remove and flow together).
	MaxFieldsPerOp = 64

	// MaxIDLen is the longest document id, device id, collection name and
	// field name, in bytes. A UUID in text form is 36 bytes.
	MaxIDLen = 64

	// MinDeviceIDLen is the shortest device id. Device ids are made by the
	// device itself; a floor on their length makes accidental collisions
	// between two devices (which would merge their op sequences) unlikely.
	MinDeviceIDLen = 8

	// MaxJSONDepth is the deepest nesting of arrays and objects in a push.
	// The protocol itself needs 6 levels; the bound keeps decoding of
	// hostile input cheap.
	MaxJSONDepth = 32

	// MaxTagsPerRemove is the largest number of observed add tags one
	// remove of one element may list. Each add of an element by any device
	// makes one tag, so real elements have a handful.
	MaxTagsPerRemove = 64

	// MaxPhotoSize bounds one photo, in bytes. Phone cameras write 2–8 MB
	// JPEGs; 15 MiB leaves room for HEIC and high-resolution sensors. The
	// server refuses a larger upload, and a device a larger file before it
	// queues it.
	MaxPhotoSize = 15 << 20
	// MaxPhotoFilename bounds the optional file name sent with a photo
	// upload, in bytes: the server refuses a longer one, and a device
	// shortens its file name to fit.
	MaxPhotoFilename = 255
)
