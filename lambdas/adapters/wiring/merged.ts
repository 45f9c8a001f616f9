/** Adapters of several ports as one object, each method answered by the first adapter that has it: the store a
 * capability's context takes when it spans ports. */
export function merged<A extends object, B extends object>(a: A, b: B): A & B
export function merged<A extends object, B extends object, C extends object>(a: A, b: B, c: C): A & B & C
export function merged(...adapters: object[]): object {
  return new Proxy(
    {},
    {
      get: (_, property) => {
        const adapter = adapters.find((candidate) => property in candidate)
        if (adapter === undefined) return undefined
        const value = Reflect.get(adapter, property)
        return typeof value === 'function' ? value.bind(adapter) : value
      },
      has: (_, property) => adapters.some((candidate) => property in candidate),
    },
  )
}
