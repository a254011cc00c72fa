/** What promote() reports of a promotion: its own file, since both promote and ReplicatedPool name it. */
/** What a promotion did, as `ReplicatedPool.promotion` reports it. */
export interface PromotionReport {
  /** The new primary's epoch. */
  epoch: bigint;
  /** The replica copied into the local pool. */
  source: string;
  /** The source's history: the epoch of the writer of its last applied range, and its LSN. */
  sourceHistoryEpoch: bigint;
  sourceLsn: bigint;
  /** Whether the source was mid-resync (it then competed with its last clean point). */
  sourceSyncing: boolean;
  /** The highest LSN any fenced replica reported, whatever its history. */
  highestLsn: bigint;
  /** Replicas that promised the new epoch. */
  fenced: string[];
  /** Replicas that did not, and why (unreachable, or a newer claim). */
  missed: Array<{ replica: string; error: string }>;
  /** Bytes copied from the source into the local pool. */
  bytesCopied: number;
}
