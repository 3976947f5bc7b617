/**
 * Races each of many waits against one promise that settles once, late or never (a Ctrl-C): `race`
 * resolves with the work's value, or with what `stop` resolves to if that comes first. A wait leaves
 * nothing on `stop` once it ends: `Promise.race([work, stop])` left a reaction on `stop` per call that
 * held the race and so the work's value until `stop` settled: an event-log tail kept every read's
 * reply (about 5 MB a day for a key ring's), `kcc-redis status --watch` every refresh's results (found
 * by a leak review and an attack review). Node.js 26's V8 frees them; 20 to 24 do not.
 */
export function stopRace<S>(stop: Promise<S>): <T>(work: Promise<T>) => Promise<T | S> {
  const waiters = new Set<(value: S) => void>();
  let stopped: { readonly value: S } | undefined;
  void stop.then((value) => {
    stopped = { value };
    for (const wake of waiters) wake(value);
    waiters.clear();
  });
  return <T>(work: Promise<T>): Promise<T | S> => {
    if (stopped) {
      work.catch(() => undefined); // abandoned: its failure is nobody's
      return Promise.resolve(stopped.value);
    }
    let wake!: (value: S) => void;
    const woken = new Promise<S>((resolve) => (wake = resolve));
    waiters.add(wake);
    return Promise.race([work, woken]).finally(() => waiters.delete(wake));
  };
}
