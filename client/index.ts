export type {
  ChatEvent,
  ErrorCode,
  GroupView,
  ImageLink,
  MemberView,
} from '../lambdas/core/protocol.js'
export type { Avatar, MembershipStatus, MessageReceipt } from './chat.js'
export { ChatGroup, ChatMessage, ChatService } from './chat.js'
export type {
  ConnectionStatus,
  ConnectOptions,
  Requests,
  SocketLike,
  WebSocketConstructor,
} from './client.js'
export { ChatClient } from './client.js'
export type { ChatErrorCode } from './error.js'
export { ChatError } from './error.js'
