/**
 * The ids added lately, each with a tag, for "seen before?" checks on message and entry ids: at least
 * the last `capacity` are kept (up to twice that). Two generations instead of a ring: adding never
 * deletes (a Set or Map keeps a deleted entry's slot until it is rehashed, and deleting the oldest
 * on every add costs as much as the add); a full generation is dropped whole.
 */
export class RecentIds {
  private current = new Map<string, number>();
  private previous = new Map<string, number>();

  constructor(private readonly capacity: number) {}

  has(id: string): boolean {
    return this.current.has(id) || this.previous.has(id);
  }

  /** The tag `id` was added or last set with, or undefined when it is not kept. */
  tag(id: string): number | undefined {
    return this.current.get(id) ?? this.previous.get(id);
  }

  /** Adds `id` with `tag` unless it is kept already; true when it was not. */
  add(id: string, tag = 0): boolean {
    if (this.has(id)) return false;
    this.set(id, tag);
    return true;
  }

  /** Keeps `id` with `tag` (anew, if it was kept). */
  set(id: string, tag: number): void {
    if (this.current.size >= this.capacity) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(id, tag);
  }
}
