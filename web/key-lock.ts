/**
 * Takes this identity's keys for this tab: two tabs using one IndexedDB store would act as one MLS device with
 * two diverging states, so only the tab holding the lock (until sign-out or close) takes part in encryption.
 */
export async function holdKeys(me: string): Promise<{ held: boolean; release: () => Promise<void> }> {
  let letGo = () => {}
  let answer: (held: boolean) => void = () => {}
  const held = new Promise<boolean>((resolve) => {
    answer = resolve
  })
  // Settles once the lock is released.
  const request = navigator.locks.request(`huddle-keys.${me}`, { ifAvailable: true }, (lock) => {
    answer(lock !== null)
    return lock === null ? undefined : new Promise<void>((done) => (letGo = done))
  })
  return {
    held: await held,
    release: async () => {
      letGo()
      await request
    },
  }
}
