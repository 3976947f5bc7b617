import { describe, expect, it } from 'vitest';
import { SingleFlight } from '../../../client/src/single-flight.js';

/** Work whose runs finish only when told to; counts how many started. */
function controllable() {
  const finishers: ((error?: Error) => void)[] = [];
  let started = 0;
  const work = () => {
    started++;
    return new Promise<void>((resolve, reject) => finishers.push((error) => (error ? reject(error) : resolve())));
  };
  return { work, started: () => started, finish: (error?: Error) => finishers.shift()!(error) };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('SingleFlight: one run at a time, and one more after it for whatever was asked meanwhile', () => {
  it('calls while a run is in flight share one follow-up run, which starts only after it', async () => {
    const w = controllable();
    const flight = new SingleFlight(w.work);
    const first = flight.run();
    const second = flight.run();
    const third = flight.run();
    expect(second).toBe(third);
    await settled();
    expect(w.started()).toBe(1);
    w.finish();
    await first;
    await settled();
    expect(w.started()).toBe(2);
    w.finish();
    await Promise.all([second, third]);
    expect(w.started()).toBe(2);
  });

  it('a run that fails still gets its follow-up, and the failure reaches only its own callers', async () => {
    const w = controllable();
    const flight = new SingleFlight(w.work);
    const first = flight.run();
    const again = flight.run();
    w.finish(new Error('CLUSTERDOWN'));
    await expect(first).rejects.toThrow('CLUSTERDOWN');
    await settled();
    w.finish();
    await expect(again).resolves.toBeUndefined();
    expect(w.started()).toBe(2);
  });
});
