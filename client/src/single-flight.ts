/**
 * Runs `work` one at a time. A call while it runs gets one more run after it, however many calls
 * arrive meanwhile: that run starts after everything the running one may have missed.
 */
export class SingleFlight {
  #running: Promise<void> | undefined;
  #again: Promise<void> | undefined;

  constructor(private readonly work: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.#running) {
      this.#again ??= this.#running
        .catch(() => undefined)
        .then(() => {
          this.#again = undefined;
          return this.run();
        });
      return this.#again;
    }
    this.#running = this.work().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }
}
