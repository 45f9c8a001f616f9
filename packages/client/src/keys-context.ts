import type { DeviceTrust, VerifiedDevices } from './device-trust.js'
import type { SecurityNotice } from './group-keys.js'
import type { KeyPersistence } from './key-persistence.js'
import type { KeyServer } from './key-server.js'
import type { MlsEngine } from './mls.js'
import type { Attachment } from './protocol.js'

/** What a group's keys are kept in step with: the server port, persistence, device trust and the app. */
export interface KeysContext {
  server: KeyServer
  persistence: KeyPersistence
  trust: DeviceTrust
  /** The engine, or undefined: without one this client takes no part in the keys. */
  engine: MlsEngine | undefined
  engineNow(): Promise<MlsEngine>
  /** This client's identity once known (the first sync says it). */
  me(): string | undefined
  identity(): Promise<string>
  deviceId(): Promise<string>
  /** Whether this device is on its identity's device list (and may join keys itself). */
  enroll(): Promise<boolean>
  /** Tops this device's key packages up, in the background. */
  refill(): void
  /** Reads what this client missed, when a commit it waits for is late. */
  catchUp(): Promise<void>
  /** Places this client's own write in the group's order. */
  wrote(gid: string, seq: number): void
  security(notice: SecurityNotice): void
  devicesChanged(devices: VerifiedDevices): void
  /** Background work's failures, for the app. */
  report(error: unknown): void
  welcomeWaitMs: number
  rotateAfterMs: number
}

/** The fields of a message or edit an app sends. */
export interface Outgoing {
  gid: string
  jti: string
  body: string
  rid?: string
  attachments?: Attachment[]
}
