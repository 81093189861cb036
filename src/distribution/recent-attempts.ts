/**
 * Attempt ids the central process remembers for a while (given up, applied): the newest `max`,
 * the oldest forgotten first, so a long-lived process does not grow by one id per task for its
 * whole life. A copy of an attempt's messages comes back within seconds (a redelivery, a worker
 * paused past its detection time); one about an attempt forgotten by then is answered from the
 * journal (its task finished, or its attempt taken), as after a restart.
 */
export class RecentAttempts {
  private readonly ids = new Set<string>();

  constructor(private readonly max = 10_000) {}

  /** Remembers `attemptId` as the newest (one added again moves up). */
  add(attemptId: string): void {
    this.ids.delete(attemptId);
    this.ids.add(attemptId);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value!);
  }

  has(attemptId: string): boolean {
    return this.ids.has(attemptId);
  }

  get size(): number {
    return this.ids.size;
  }
}
