// Package client is the device side of the gridsync sync protocol: the SDK
// an Android app (or the gridctl terminal tool) uses to record checks,
// hazards and sites offline and sync them when a signal appears. The folder
// is client-sdk; the package is client (a Go package name has no hyphen).
//
// A Client keeps everything in one local SQLite file:
//
//   - the confirmed replica: document states as the server has them, built
//     from snapshots and pulled changes;
//   - the outbox: this device's ops in the order they were made, kept until
//     the server has accepted them and a pull has brought them back into
//     the replica (so the user never sees an edit disappear and reappear);
//   - rejected ops, which the server refused: shown to the user, never
//     dropped silently;
//   - meta: the device id, the persisted hybrid logical clock, the next op
//     counter, the pull cursor, the tokens and the logged-in user;
//   - the photo queue: photos attached on the device (a copy of each in
//     the folder beside the file until the server has stored it), the ops
//     that reference them, and where each tus upload stands.
//
// Reads (Get, List) see the confirmed replica with the outbox applied on
// top, so offline edits show at once. Writes (Create, Update, Delete) make
// one syncproto.Op each, check it with the same schema and role rules the
// server uses, and append it to the outbox in one local transaction.
// Sync pushes the outbox, records each op's verdict, pulls changes, and
// uploads the photos whose referencing ops were accepted (AttachPhoto,
// UploadPhotos).
//
// Every step that talks to the server commits its result locally in one
// transaction after the reply arrived; the protocol makes every request
// safe to repeat (pushes are idempotent per op, pulls resume from the last
// stored cursor), so a crash or a lost reply at any point loses nothing and
// duplicates nothing: the next Sync repeats the step.
//
// The exported surface is plain (structs, strings, slices, maps; no
// channels or generics) so that a gomobile-style binding can wrap it.
package client
