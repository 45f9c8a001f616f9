export type { Avatar } from './chat.js'
export { ChatService } from './chat.js'
export type {
  ConnectionStatus,
  ConnectOptions,
  SocketLike,
  WebSocketConstructor,
} from './client.js'
export { ChatClient } from './client.js'
export type { CursorStore, Cursors, KeyValueStorage } from './cursors.js'
export { localStorageCursorStore, memoryCursorStore } from './cursors.js'
export type { ChatErrorCode } from './error.js'
export { ChatError } from './error.js'
export type { HistoryPage, MembershipStatus, MessageReceipt, Receipt } from './group.js'
export { ChatGroup, ChatMessage } from './group.js'
export type {
  AckResults,
  ChatEvent,
  DeleteEvent,
  EditEvent,
  ErrorCode,
  GroupEvent,
  GroupView,
  ImageLink,
  JoinEvent,
  LeaveEvent,
  MemberView,
  Requests,
} from './protocol.js'
