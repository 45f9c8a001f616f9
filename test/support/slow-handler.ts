/** A handler stuck for good (the gateway's timeout test): it never answers, and keeps its thread busy. */
export const handler = (): Promise<never> =>
  new Promise(() => {
    setInterval(() => {}, 1000)
  })
