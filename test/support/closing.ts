import { afterEach } from 'vitest';

/** A ring, an index, a KccRedis (`close`) or a raw ioredis client (`disconnect`). */
export type Closable = { close(): Promise<unknown> } | { disconnect(): void };

/**
 * Closes what a test file's tests open, after each test, the last opened first: a key ring or a
 * revocation index before the connection it runs on. Call it once at the top of the file; it
 * returns the function that registers what was opened.
 */
export function closeAfterEach(): <T extends Closable>(resource: T) => T {
  const opened: Closable[] = [];
  afterEach(async () => {
    for (const resource of opened.splice(0).reverse()) {
      if ('close' in resource) await resource.close();
      else resource.disconnect();
    }
  });
  return (resource) => {
    opened.push(resource);
    return resource;
  };
}
