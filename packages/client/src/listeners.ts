/** A set of callbacks where one failing callback cannot stop the others or the socket. */
export class Listeners<Args extends unknown[]> {
  readonly #callbacks = new Set<(...args: Args) => unknown>()

  constructor(private readonly report: (error: unknown) => void) {}

  get size(): number {
    return this.#callbacks.size
  }

  add(callback: (...args: Args) => unknown): () => void {
    this.#callbacks.add(callback)
    return () => {
      this.#callbacks.delete(callback)
    }
  }

  emit(...args: Args): void {
    for (const callback of this.#callbacks) {
      try {
        const result = callback(...args)
        if (result instanceof Promise) result.catch(this.report)
      } catch (error) {
        this.report(error)
      }
    }
  }
}
