import type { ChatService, DeviceKey, SecurityNotice } from '@huddle/client'
import { announce, byId, h } from './dom.js'
import { describeError } from './errors.js'

/**
 * This identity's devices, as encrypted groups need them: a new browser waits until a device already signed in
 * approves it, and that device shows the request with a button to approve it. A change of keys this browser
 * refused, or one a member undid, is said where encryption problems are.
 */
export class DevicesPanel {
  readonly #chat: ChatService
  readonly #section = byId('devices-section')
  readonly #status = byId('device-status')
  readonly #requests = byId('device-requests')
  readonly #problem = byId('device-problem')
  readonly #asking = new Map<string, DeviceKey>()

  constructor(chat: ChatService, me: string) {
    this.#chat = chat
    this.clear()
    chat.onSecurity((notice) => this.#notice(notice))
    chat.onDevicesChange((devices) => {
      if (devices.iss !== me) return
      for (const { device } of devices.devices) this.#asking.delete(device)
      this.#status.textContent = `Your safety number: ${devices.fingerprint}`
      this.#render()
    })
    // Requests made while this browser was away.
    chat
      .pendingDevices()
      .then((pending) => {
        for (const device of pending) this.#asking.set(device.device, device)
        this.#render()
      })
      .catch(() => {})
  }

  clear(): void {
    this.#asking.clear()
    this.#status.textContent = ''
    this.#problem.textContent = ''
    this.#requests.replaceChildren()
    this.#section.hidden = true
  }

  #notice(notice: SecurityNotice): void {
    switch (notice.kind) {
      case 'approval-needed':
        this.#status.textContent =
          'This browser is a new device: approve it in a browser where you are already signed in, to read your encrypted groups here.'
        this.#section.hidden = false
        return
      case 'device-request':
        this.#asking.set(notice.device.device, notice.device)
        announce('A new device asks to read your encrypted groups')
        this.#render()
        return
      case 'refused':
        this.#problem.textContent = `A change of keys in ${notice.gid} by ${notice.iss} was refused: ${notice.reason}. Nothing is sent there until it is undone.`
        this.#section.hidden = false
        return
      case 'reverted':
        this.#problem.textContent = ''
        announce(`A change of keys in ${notice.gid} by ${notice.iss} was undone: ${notice.reason}`)
    }
  }

  #render(): void {
    this.#requests.replaceChildren(
      ...[...this.#asking.values()].map(({ device }) => {
        const approve = h('button', { type: 'button', 'aria-label': `Approve device ${device}` }, 'Approve')
        approve.addEventListener('click', () => {
          approve.disabled = true
          this.#chat.approveDevice(device).then(
            () => {
              this.#asking.delete(device)
              this.#render()
              announce(`Device ${device} approved`)
            },
            (error: unknown) => {
              approve.disabled = false
              this.#problem.textContent = `Could not approve ${device}: ${describeError(error)}.`
            },
          )
        })
        return h(
          'li',
          { class: 'invite', 'aria-label': `Device request ${device}` },
          h(
            'div',
            { class: 'title' },
            h('strong', {}, 'A new device asks to read your encrypted groups'),
            h('p', {}, device),
          ),
          h('div', { class: 'actions' }, approve),
        )
      }),
    )
    this.#section.hidden = this.#asking.size === 0 && this.#status.textContent === ''
  }
}
