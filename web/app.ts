/** The web chat: sign in, groups and invites on one side, the open conversation on the other. */
import {
  ChatClient,
  type ChatGroup,
  type ChatService,
  type ConnectionStatus,
  type DeleteEvent,
  type EditEvent,
  type GroupChange,
  type JoinEvent,
  type LeaveEvent,
  localStorageCursorStore,
} from '@huddle/client'
import type { WebConfig } from './config.js'
import { ConversationView } from './conversation.js'
import { setUpCreateForm } from './create-group.js'
import { DevicesPanel } from './devices.js'
import { announce, byId, h } from './dom.js'
import { describeError } from './errors.js'
import { memberListOf } from './group-menu.js'
import {
  type Activity,
  latestActivity,
  previewOf,
  refreshed,
  renderGroups,
  renderInvites,
  revisePreview,
} from './groups.js'
import { PresenceToggle } from './presence.js'
import type { ProviderSession } from './provider-session.js'
import { explainConnectFailure, subjectOf } from './session.js'
import { SessionEnded, SignInError } from './sign-in.js'
import { focusSignIn, startSignInScreen } from './sign-in-screen.js'
import { startTabEncryption, type TabEncryption } from './tab-encryption.js'

const statusText: Record<ConnectionStatus, string> = {
  connecting: 'Connecting…',
  open: 'Connected',
  reconnecting: 'Reconnecting…',
  closed: 'Not connected',
}

interface Session {
  me: string
  client: ChatClient
  chat: ChatService
  /** MLS for the encrypted groups, in a worker, and this identity's keys; ended on sign-out. */
  encryption: TabEncryption
  /** The session at the OpenID provider, when signed in there (not with a pasted token). */
  provider?: ProviderSession
  /** Joined groups, and pending invites, by gid. */
  groups: Map<string, ChatGroup>
  invites: Map<string, ChatGroup>
  unread: Map<string, number>
  /** Each joined group's last activity, for the list's order and previews. */
  activity: Map<string, Activity>
  view?: ConversationView
}

let session: Session | undefined
/** /config.json: where to connect and where to sign in (web/config.ts). */
let config: WebConfig = { websocketUrl: location.origin.replace(/^http/, 'ws') }

const status = byId('status')
const presenceToggle = new PresenceToggle(byId('hide-presence'), byId('presence-problem'))
const signInProblem = byId('sign-in-problem')
const sessionProblem = byId('session-problem')
/** The conversation open when the page was left, per identity, to reopen after a reload. */
const openKey = (me: string) => `huddle.open.${me}`

function showStatus(state: ConnectionStatus): void {
  status.dataset.state = state
  status.textContent = statusText[state]
}

/** Connects with the provider session's ID tokens, renewed through its refresh token when they run out. */
function connectAs(provider: ProviderSession): Promise<void> {
  return connect(provider.identity, () => provider.token(), provider)
}

/** Connects as `me` with tokens from `token` (asked again before every reconnect). */
async function connect(me: string, token: () => Promise<string>, provider?: ProviderSession): Promise<void> {
  signInProblem.textContent = ''
  sessionProblem.textContent = ''
  showStatus('connecting')
  let last: string | undefined
  let client: ChatClient
  const encryption = await startTabEncryption(me)
  try {
    let first: string | undefined = await token()
    last = first
    client = await ChatClient.connect(config.websocketUrl, {
      token: async () => {
        const next = first ?? (await renewed(token))
        first = undefined
        last = next
        return next
      },
      // Where this identity stopped reading, so a reload is handed what was missed meanwhile.
      cursors: localStorageCursorStore(`huddle.cursors.${me}`),
      reconnect: { maxDelayMs: 5000 },
      ...(encryption.options && { encryption: encryption.options }),
    })
  } catch (error) {
    await encryption.end()
    showStatus('closed')
    if (error instanceof SignInError) signInProblem.textContent = error.message
    else {
      signInProblem.textContent =
        last === undefined
          ? `Could not get a token for “${me}”: ${describeError(error)}.`
          : await explainConnectFailure(error, last, config.websocketUrl)
    }
    return
  }
  const chat = client.chat()
  if (encryption.options) new DevicesPanel(chat, me)
  const current: Session = {
    me,
    client,
    chat,
    encryption,
    ...(provider && { provider }),
    groups: new Map(),
    invites: new Map(),
    unread: new Map(),
    activity: new Map(),
  }
  session = current
  presenceToggle.start(me, (hidden) => chat.hidePresence(hidden))
  let lastFailure = ''
  client.onConnectionError((error) => {
    // A token that could not be renewed is said by renewed(), in the provider's terms.
    if (error.code === 'TOKEN_FAILED') return
    lastFailure = error.message
    sessionProblem.textContent = `Could not reconnect: ${error.message}. Huddle keeps trying.`
  })
  client.onStatus((state) => {
    showStatus(state)
    if (state === 'open') {
      sessionProblem.textContent = ''
      refreshSoon()
      current.view?.readPresence()
    }
    // Closed by the client itself: it gave up (the server kept refusing the token).
    if (state === 'closed' && session === current) {
      void signOut(`The connection ended: ${lastFailure || 'the server refused it'}. Sign in again.`, {
        revoke: false,
      })
    }
  })
  chat.onInvite((group) => {
    current.invites.set(group.gid, group)
    renderLists()
    announce(`You are invited to ${group.name}`)
  })
  chat.onMessage((message) => {
    current.activity.set(message.gid, previewOf(message, me))
    if (current.view?.gid === message.gid) {
      current.view.received(message)
      renderLists()
    } else refreshSoon()
  })
  chat.onPresence((presence) => {
    if (presence.iss === me) presenceToggle.learned(presence)
    current.view?.presenceChanged()
  })
  chat.onTypingChange((gid, typing) => {
    if (current.view?.gid === gid) current.view.typingChanged(typing)
  })
  chat.onReaction((event, reactions) => {
    if (current.view?.gid === event.gid) current.view.reacted(event.target, reactions)
  })
  chat.onReceipt((receipt) => {
    if (current.view?.gid === receipt.gid) current.view.receipt(receipt)
  })
  const logged = (event: JoinEvent | LeaveEvent | EditEvent | DeleteEvent | GroupChange) => {
    // An edit or a delete is no new activity: the group keeps its place.
    if (event.type !== 'chat.edit' && event.type !== 'chat.delete') touch(event.gid, event.iat)
    if (current.view?.gid === event.gid) current.view.logged(event)
  }
  chat.onJoin((iss, gid, event) => {
    const group = current.groups.get(gid)
    // Joined on another device: the server lists it.
    if (!group) refreshSoon()
    else if (!group.members.includes(iss)) {
      group.members.push(iss)
      group.memberCount++
    }
    logged(event)
  })
  chat.onLeave((iss, gid, event) => {
    const group = current.groups.get(gid)
    if (group) {
      group.members = group.members.filter((member) => member !== iss)
      group.memberCount--
    }
    // This identity left (or declined) on another device.
    if (iss === me) forget(gid)
    else logged(event)
  })
  // An edit or a delete of the message a group's preview shows changes the preview.
  const revised = (event: EditEvent | DeleteEvent) => {
    logged(event)
    if (revisePreview(current.activity.get(event.gid), event, me)) renderLists()
  }
  chat.onEdit(revised)
  chat.onDelete(revised)
  chat.onChange((change, group) => {
    // Banned: the group ends here, as a removal ends it. A rename or a new picture shows in the lists.
    if (change.type === 'chat.ban' && change.iss === me) {
      forget(change.gid)
      notify(`You were banned from ${group?.name ?? change.gid} by ${change.by}.`)
      return
    }
    logged(change)
    if (change.type === 'chat.update') renderLists()
  })
  chat.onGroupDelete((deleted, group) => {
    forget(deleted.gid)
    notify(`${deleted.iss} deleted ${group?.name ?? deleted.gid}: its messages are gone for everyone.`)
  })

  byId('me-name').textContent = `Signed in as ${me}`
  byId('me').hidden = false
  byId('sign-in').hidden = true
  byId('chat').hidden = false
  showStatus(client.status)
  byId('groups-title').focus()
  await refreshGroups().catch((error: unknown) => {
    byId('invites-problem').textContent = `Could not list your groups: ${describeError(error)}.`
  })
  // After a reload, the conversation that was open opens again.
  const reopen = current.groups.get(localStorage.getItem(openKey(me)) ?? '')
  if (session === current && reopen && !current.view) open(reopen)
}

/**
 * A token for a reconnect, or why there is none: a provider that cannot be reached is said in the chat
 * while the client keeps trying; a session the provider ended signs out, saying so on the sign-in screen.
 */
async function renewed(token: () => Promise<string>): Promise<string> {
  try {
    return await token()
  } catch (error) {
    if (error instanceof SessionEnded) void signOut(error.message, { revoke: false })
    else {
      const why = error instanceof Error ? error.message : String(error)
      sessionProblem.textContent = `Could not renew your sign-in: ${why} Huddle keeps trying to reconnect.`
    }
    throw error
  }
}

/** Ends the session: revokes the provider's refresh token (unless it is already refused) and forgets it. */
async function signOut(problem = '', { revoke = true } = {}): Promise<void> {
  const ending = session
  session = undefined
  // The sign-in screen shows at once; signing in again waits until this session has let go of everything.
  const ways = [byId<HTMLButtonElement>('sign-in-button'), byId<HTMLButtonElement>('token-submit')]
  for (const way of ways) way.disabled = true
  sessionProblem.textContent = ''
  signInProblem.textContent = problem
  byId('me').hidden = true
  byId('chat').hidden = true
  byId('sign-in').hidden = false
  closeConversation()
  // The lists held the ended session's groups: the next session shows its own, once it has read them.
  byId('groups').replaceChildren()
  byId('invites').replaceChildren()
  notify('')
  byId('devices-section').hidden = true
  showStatus('closed')
  // Forgotten first, so that a reload right after signing out does not sign in again.
  const ended = revoke ? ending?.provider?.end() : undefined
  try {
    await ending?.client.close()
    await ending?.encryption.end()
    await ended
  } finally {
    for (const way of ways) way.disabled = false
    focusSignIn()
  }
}

/** Groups, invites and unread counts as the server has them. */
async function refreshGroups(): Promise<void> {
  const current = session
  if (!current) return
  const listed = await current.chat.groups()
  if (session !== current) return
  const joined = new Map<string, ChatGroup>()
  for (const group of listed) {
    current.unread.set(group.gid, current.view?.gid === group.gid ? 0 : (group.unread ?? 0))
    if (group.status === 'invited') {
      if (!current.invites.has(group.gid)) current.invites.set(group.gid, group)
      continue
    }
    const known = current.groups.get(group.gid)
    joined.set(group.gid, known ? refreshed(known, group) : group)
    current.invites.delete(group.gid)
  }
  current.groups = joined
  renderLists()
  // Groups not seen yet this session: their last activity is read from their history, in parallel.
  const unseen = [...joined.values()].filter((group) => !current.activity.has(group.gid))
  await Promise.all(
    unseen.map(async (group) => {
      const activity = await latestActivity(group, current.me).catch(() => undefined)
      current.activity.set(group.gid, activity ?? { iat: '', preview: '' })
    }),
  )
  if (unseen.length > 0 && session === current) renderLists()
}

let refreshTimer: ReturnType<typeof setTimeout> | undefined
/** Unread counts come from the server, asked once for a burst of messages. */
function refreshSoon(): void {
  clearTimeout(refreshTimer)
  refreshTimer = setTimeout(() => refreshGroups().catch(() => {}), 300)
}

function renderLists(): void {
  if (!session) return
  const { groups, invites, unread, activity, view } = session
  renderGroups(byId('groups'), groups.values(), unread, activity, view?.gid, open)
  byId('no-groups').hidden = groups.size > 0
  renderInvites(byId('invites'), invites.values(), answerInvite)
  byId('invites-section').hidden = invites.size === 0
}

function open(group: ChatGroup): void {
  const current = session
  if (!current) return
  const view = new ConversationView(group, {
    me: current.me,
    members: memberListOf(current.client),
    presenceOf: (iss) => current.chat.presenceOf(iss),
    ownPresence: (own) => presenceToggle.learned(own),
    sent: (activity) => {
      current.activity.set(group.gid, activity)
      renderLists()
    },
    back: () => {
      localStorage.removeItem(openKey(current.me))
      closeConversation()
      renderLists()
      const button = byId('groups').querySelector<HTMLElement>(`[data-gid="${CSS.escape(group.gid)}"]`)
      button?.focus()
    },
    deleted: (gone) => {
      forget(gone.gid)
      notify(`You deleted ${gone.name}.`)
      byId('groups-title').focus()
    },
    leave: async (leaving) => {
      await leaving.leave()
      forget(leaving.gid)
      byId('groups-title').focus()
    },
  })
  current.view = view
  notify('')
  localStorage.setItem(openKey(current.me), group.gid)
  current.unread.set(group.gid, 0)
  byId('conversation').replaceChildren(view.element)
  document.body.dataset.view = 'conversation'
  renderLists()
  view.focus()
}

function closeConversation(): void {
  if (session) session.view = undefined
  byId('conversation').replaceChildren(h('p', { class: 'hint pick' }, 'Pick a group, or create one.'))
  document.body.dataset.view = 'list'
}

/** Something happened in group `gid` at `iat`: the list moves it up, keeping its last message's preview. */
function touch(gid: string, iat = new Date().toISOString()): void {
  const known = session?.activity.get(gid)
  if (!session || (known && known.iat >= iat)) return
  session.activity.set(gid, { ...known, iat, preview: known?.preview ?? '' })
  renderLists()
}

/** Says under the Groups heading (and to screen readers) what became of a group that went away. */
function notify(text: string): void {
  const notice = byId('groups-notice')
  notice.textContent = text
  notice.hidden = text === ''
  if (text) announce(text)
}

function forget(gid: string): void {
  if (!session) return
  session.groups.delete(gid)
  session.invites.delete(gid)
  session.unread.delete(gid)
  if (session.view?.gid === gid) {
    localStorage.removeItem(openKey(session.me))
    closeConversation()
  }
  renderLists()
}

async function answerInvite(group: ChatGroup, accept: boolean): Promise<void> {
  const current = session
  if (!current) return
  const problem = byId('invites-problem')
  problem.textContent = ''
  try {
    if (accept) await group.join()
    else await group.decline()
  } catch (error) {
    problem.textContent = `Could not ${accept ? 'accept' : 'decline'} the invite: ${describeError(error)}.`
    return
  }
  current.invites.delete(group.gid)
  if (accept) {
    current.groups.set(group.gid, group)
    touch(group.gid)
    open(group)
  } else {
    renderLists()
    byId('groups-title').focus()
  }
}

byId('sign-out').addEventListener('click', () => void signOut())
setUpCreateForm(
  () => session?.me ?? '',
  (gid, name, members, avatar, options) => {
    if (!session) throw new Error('you are signed out')
    return session.chat.invite(gid, name, members, avatar, options)
  },
  (group) => {
    session?.groups.set(group.gid, group)
    touch(group.gid)
    ;(byId('create') as HTMLDetailsElement).open = false
    open(group)
  },
)
void startSignInScreen({
  configured: (loaded) => {
    config = loaded
  },
  connectAs,
  connectWithToken: (token) => connect(subjectOf(token) ?? 'an unknown identity', async () => token),
  signedIn: () => session !== undefined,
})
