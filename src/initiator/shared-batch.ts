/**
 * Encode once, send to every replica: a replicated range is queued on each replica's Persist
 * stream, and on streams of implied seqs (PersistStart.first_seq) its bytes on the wire are the same
 * on every stream. The first stream to send a batch starting at a range leaves the encoded message
 * on it; another stream whose next ranges are, one by one, that batch's members writes the same
 * Buffer instead of encoding its own. grpc-js copies each message once into its frame anyway, so
 * this saves one fill of the batch per replica beyond the first.
 */

/** One replicated range, shared by the sends of it to every replica (ReplicatedPool makes one per persist). */
export class SharedRange {
  /** A batch that starts at this range, encoded by one of its streams, while another may still send it. */
  batch: SharedBatch | undefined = undefined;
}

/** A PersistBatch message of implied seqs, as encoded by the stream that sent it first. */
export interface SharedBatch {
  /** Its ranges, in order: a stream sends the message only when its next ranges are exactly these. */
  readonly members: readonly SharedRange[];
  readonly message: Buffer;
  /** The ranges' data bytes, what a stream's window and message size count. */
  readonly dataBytes: number;
  /** The stream that encoded it: the batch is dropped once that stream has its ack (or failed), bounding what it keeps alive to that stream's window. */
  readonly leader: object;
}
