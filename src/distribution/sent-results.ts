/**
 * The encoded results a worker sent, by attempt: a task delivered again gets its result again,
 * never a second run. Bounded by count and by bytes (a result may carry its bundle inline, a
 * few hundred KB): the oldest are forgotten first. A forgotten result's task delivered again is
 * checked against the attempt record like any task (the central process fences a second result).
 */
export class SentResults {
  private readonly byAttempt = new Map<string, Uint8Array>();
  private bytes = 0;

  constructor(
    private readonly maxCount = 256,
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  get(attemptId: string): Uint8Array | undefined {
    return this.byAttempt.get(attemptId);
  }

  set(attemptId: string, data: Uint8Array): void {
    this.forget(attemptId);
    // One result bigger than the whole budget is not kept at all.
    if (data.byteLength > this.maxBytes) return;
    this.byAttempt.set(attemptId, data);
    this.bytes += data.byteLength;
    while (this.byAttempt.size > this.maxCount || this.bytes > this.maxBytes) this.forget(this.byAttempt.keys().next().value!);
  }

  /** How many bytes the kept results hold. */
  get size(): { count: number; bytes: number } {
    return { count: this.byAttempt.size, bytes: this.bytes };
  }

  private forget(attemptId: string): void {
    const data = this.byAttempt.get(attemptId);
    if (!data) return;
    this.byAttempt.delete(attemptId);
    this.bytes -= data.byteLength;
  }
}
