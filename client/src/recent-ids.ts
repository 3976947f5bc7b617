/**
 * The last `capacity` ids added, for "seen before?" checks on message and entry ids: adding beyond
 * the capacity forgets the oldest.
 */
export class RecentIds {
  private readonly ids = new Set<string>();
  // Not `ids.values().next()` to find the oldest: a Set keeps deleted entries' slots until it is
  // rehashed, and iterating from its start skips them one by one (thousands per add once it is full).
  // Grows up to the capacity, then is overwritten in a ring: nothing allocated for ids never added.
  private readonly order: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  /** Adds `id` (a no-op when it is there); true when it was not there. */
  add(id: string): boolean {
    if (this.ids.has(id)) return false;
    if (this.order.length < this.capacity) {
      this.order.push(id);
    } else {
      this.ids.delete(this.order[this.next]!);
      this.order[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    this.ids.add(id);
    return true;
  }
}
