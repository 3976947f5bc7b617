/** What the rotation functions' unit tests share: the error a step rejects with, and the password function on a fake clock. */
import { expect } from 'vitest';
import { KccRotationError } from '../../infra/errors.js';
import type { RotationHandler } from '../../infra/rotation/rotation-frame.js';
import { createRotationHandler } from '../../infra/rotation/rotation-handler.js';
import type { RotationLogEntry } from '../../infra/rotation/rotation-log.js';
import type { FakeElastiCache } from './fake-elasticache.js';

/** The KccRotationError `promise` rejects with (the test fails if it resolves or rejects with anything else). */
export async function rotationRejection(promise: Promise<unknown>): Promise<KccRotationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KccRotationError);
  return error as KccRotationError;
}

/** The password rotation function on a clock of its own: each of its waits lets `ec` settle, then moves the clock on. */
export function passwordRotationHandler(ec: FakeElastiCache, rotationTag: string, log: (entry: RotationLogEntry) => void): RotationHandler {
  let clock = 1_000_000;
  return createRotationHandler({
    rotationTag,
    now: () => clock,
    sleep: async (ms) => {
      await ec.settled();
      clock += ms;
    },
    log,
  });
}
