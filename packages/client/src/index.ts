export type { AttachmentFile } from './attachment.js'
export { ChatAttachment } from './attachment.js'
export type { Avatar } from './avatar.js'
export type { ChatOptions, GroupChange } from './chat.js'
export { ChatService } from './chat.js'
export type { ConnectOptions, SocketLike, TokenSource, WebSocketConstructor } from './client.js'
export { ChatClient } from './client.js'
export type { Connection, ConnectionStatus, RequestOptions } from './connection.js'
export type { CursorStore, Cursors, KeyValueStorage } from './cursors.js'
export { localStorageCursorStore, memoryCursorStore } from './cursors.js'
export type { VerifiedDevices } from './device-trust.js'
export type { SecurityNotice } from './encryption.js'
export type { EncryptionStore } from './encryption-store.js'
export { indexedDbEncryptionStore, memoryEncryptionStore } from './encryption-store.js'
export type { ChatErrorCode } from './error.js'
export { ChatError } from './error.js'
export type { GroupUpdate, HistoryPage, MessageOptions, MessageReceipt, Receipt } from './group.js'
export { ChatGroup, ChatMessage } from './group.js'
export type { MembershipStatus } from './group-info.js'
export type { Committed, GroupKeys, KeyPackageMade, Leaf, MlsEngine, Signer } from './mls.js'
export type { DeviceName } from './mls-wire.js'
export type { Presence } from './presence.js'
export type {
  AckResults,
  Attachment,
  BanEvent,
  ChatEvent,
  DeleteEvent,
  DeviceKey,
  DeviceList,
  DevicesEvent,
  EditEvent,
  ErrorCode,
  GroupDeletedEvent,
  GroupEvent,
  GroupView,
  ImageLink,
  InvitePolicy,
  JoinEvent,
  LeaveEvent,
  MemberView,
  PresenceEvent,
  PresenceView,
  ReactionEvent,
  Requests,
  RevertEvent,
  Role,
  RoleEvent,
  TypingEvent,
  UnbanEvent,
  UpdateEvent,
} from './protocol.js'
export type { ReactionSummary } from './reactions.js'
export type { TypingOptions } from './typing.js'
