/**
 * ClaimGate: no replica is written until a majority of them promised the primary's epoch claim.
 *
 * A primary that was deposed while it was away (a promoter fenced a majority at a higher epoch)
 * learns it from the first fenced replica it asks; without the gate it could meanwhile resync
 * (that is, rewrite) a replica that missed the promotion. With it, a majority must answer "yes"
 * first, and any majority contains a replica the promoter fenced (docs/design.md I5, I6). A pool
 * whose write policy asks fewer acks than a majority opts out of that promise (as it does of
 * promotion's no-loss guarantee): its gate opens at the policy's number, so degraded mode still works.
 */
export class ClaimGate {
  private readonly promised = new Set<string>();
  private isOpen = false;
  private isReleased = false;
  private readonly waiters: Array<() => void> = [];

  /** `needed` tells how many promises open the gate now (the pool's replicas may change online). */
  constructor(private readonly needed: () => number) {}

  /** True once enough replicas promised the claim (it stays open: later claims are checked per replica). */
  get open(): boolean {
    return this.isOpen;
  }

  /** Replica `spec` promised the claim. */
  promisedBy(spec: string): void {
    this.promised.add(spec);
    if (!this.isOpen && this.promised.size >= this.needed()) {
      this.isOpen = true;
      this.wake();
    }
  }

  /** Resolves when the gate opens, or when it is released (the pool closed or was fenced). */
  wait(): Promise<void> {
    if (this.isOpen || this.isReleased) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Lets every waiter go without opening: they must check why before they write. */
  release(): void {
    this.isReleased = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
