/**
 * Keeps sends in call order while some of them wait (a message for its files): each one is sent once what
 * it waits for is ready and every earlier one has been sent. With nothing waiting, a send goes at once.
 */
export class CallOrder {
  #last: Promise<void> = Promise.resolve()
  #waiting = 0

  /** Calls `send` with what `ready` gives, after the sends of earlier calls; rejects as `ready` does. */
  run<T, R>(ready: T | Promise<T>, send: (value: T) => Promise<R>): Promise<R> {
    if (!(ready instanceof Promise) && this.#waiting === 0) return send(ready)
    this.#waiting++
    const earlier = this.#last
    let sent = () => {}
    this.#last = new Promise((resolve) => {
      sent = resolve
    })
    return (async () => {
      try {
        // A call that fails still keeps its place until the earlier ones are sent.
        const [result] = await Promise.allSettled([ready, earlier])
        if (result.status === 'rejected') throw result.reason
        // `send` queues its request before it returns, so the next call's send comes after it.
        return send(result.value)
      } finally {
        this.#waiting--
        sent()
      }
    })()
  }
}
