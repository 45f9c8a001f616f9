// Apart from the engine and its state codec, so that the SDK's declarations never reach ts-mls's own types.

/** A group's MLS state for one device: opaque outside the engine (immutable; a rejected commit's new state is dropped). */
export interface GroupKeys {
  readonly epoch: number
  readonly leaf: number
}
