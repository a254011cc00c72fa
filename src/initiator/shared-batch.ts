/**
 * Encode once, send to every replica: a replicated range is queued on each replica's Persist
 * stream, and on streams of implied seqs (PersistStart.first_seq) its bytes on the wire are the same
 * on every stream. The first stream to send a batch starting at a range leaves the encoded message
 * on it; another stream whose next ranges are, one by one, that batch's members writes the same
 * Buffer instead of encoding its own. grpc-js copies each message once into its frame anyway, so
 * this saves one fill of the batch per replica beyond the first.
 */

/**
 * One replicated range, shared by the sends of it to every replica (ReplicatedPool makes one per
 * persist). A batch starting here is kept while a stream that queued the range has not sent it and
 * its persist has not settled (a settled persist's waiting sends copy their data and encode their
 * own: PersistStream.detach): so what batches keep alive is at most the data of unsettled persists,
 * once, however many replicas there are.
 */
export class SharedRange {
  /** A batch that starts at this range, encoded by one of its streams, while another may still send it. */
  batch: SharedBatch | undefined = undefined;
  /** Streams that queued this range and have not yet sent it (or failed). */
  unsent = 0;

  /** One stream sent the range, or will never: the last one drops the batch. */
  sent(): void {
    if (--this.unsent === 0) this.batch = undefined;
  }
}

/** A PersistBatch message of implied seqs, as encoded by the stream that sent it first. */
export interface SharedBatch {
  /** Its ranges, in order: a stream sends the message only when its next ranges are exactly these. */
  readonly members: readonly SharedRange[];
  readonly message: Buffer;
  /** The ranges' data bytes, what a stream's window and message size count. */
  readonly dataBytes: number;
}
