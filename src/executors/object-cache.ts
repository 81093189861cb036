/**
 * Git objects kept in memory by id, oldest dropped first, within a byte and a count bound (an
 * object never changes, so a kept copy is never stale). An object bigger than 1/16 of the byte
 * bound is not kept.
 */
export interface CachedObject {
  oid: string;
  data: Buffer;
}

export class ObjectCache<T extends CachedObject> {
  private readonly byId = new Map<string, T>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly maxCount: number,
  ) {}

  get(oid: string): T | undefined {
    return this.byId.get(oid);
  }

  add(obj: T): void {
    if (obj.data.length > this.maxBytes / 16 || this.byId.has(obj.oid)) return;
    this.byId.set(obj.oid, obj);
    this.bytes += obj.data.length;
    while (this.bytes > this.maxBytes || this.byId.size > this.maxCount) {
      const [oldest, old] = this.byId.entries().next().value!;
      this.byId.delete(oldest);
      this.bytes -= old.data.length;
    }
  }
}
