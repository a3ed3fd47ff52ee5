/** Async work that runs one at a time per key; different keys run in parallel. Single process only. */
export class KeyedMutex {
  readonly #tails = new Map<string, Promise<void>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const done = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The tail never rejects, so one failed call does not poison the calls queued behind it.
    const tail = previous.then(() => done);
    this.#tails.set(key, tail);
    return previous
      .then(() => work())
      .finally(() => {
        release();
        // Forget idle keys so the map stays as small as the set of keys in use.
        if (this.#tails.get(key) === tail) this.#tails.delete(key);
      });
  }

  /** Resolves once every call queued so far has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }
}
