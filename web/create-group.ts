import type { Avatar, ChatGroup } from '@huddle/client'
import { identityPattern, imageMimeTypes, limits } from '@huddle/client/protocol'
import { byId } from './dom.js'
import { describeError } from './errors.js'

export type CreateGroup = (
  gid: string,
  name: string,
  members: string[],
  avatar?: Avatar,
  options?: { encrypted?: boolean },
) => Promise<ChatGroup>

/**
 * The "New group" form: a name, members separated by commas (one name per entry, never split at a space), an optional id (made from the name when left
 * empty), an optional avatar, previewed before it is uploaded, and whether the group is end-to-end
 * encrypted (chosen once, at creation).
 */
export function setUpCreateForm(me: () => string, create: CreateGroup, created: (group: ChatGroup) => void) {
  const form = byId<HTMLFormElement>('create-form')
  const name = byId<HTMLInputElement>('group-name')
  const members = byId<HTMLInputElement>('group-members')
  const gid = byId<HTMLInputElement>('group-id')
  const file = byId<HTMLInputElement>('group-avatar')
  const preview = byId<HTMLImageElement>('avatar-preview')
  const encrypted = byId<HTMLInputElement>('group-encrypted')
  const problem = byId('create-problem')
  const submit = form.querySelector('button') as HTMLButtonElement
  let suffix = randomSuffix()

  const derivedGid = () => `${slug(name.value) || 'group'}-${suffix}`
  name.addEventListener('input', () => {
    gid.placeholder = derivedGid()
  })
  file.addEventListener('change', () => {
    URL.revokeObjectURL(preview.src)
    const picked = file.files?.[0]
    preview.hidden = !picked
    if (picked) preview.src = URL.createObjectURL(picked)
  })

  form.addEventListener('submit', async (event) => {
    event.preventDefault()
    problem.textContent = ''
    const entries = members.value
      .split(/[,\n]/)
      .map((entry) => entry.trim())
      .filter(Boolean)
    const invitees = [...new Set(entries)].filter((m) => m !== me())
    const picked = file.files?.[0]
    const id = gid.value.trim() || derivedGid()
    const refusal = problemWith(invitees, id, picked)
    if (refusal) {
      problem.textContent = refusal
      return
    }
    submit.disabled = true
    submit.textContent = 'Creating…'
    try {
      const group = await create(
        id,
        name.value.trim(),
        invitees,
        picked && { data: picked, mime: picked.type },
        encrypted.checked ? { encrypted: true } : {},
      )
      form.reset()
      preview.hidden = true
      suffix = randomSuffix()
      gid.placeholder = ''
      created(group)
    } catch (error) {
      problem.textContent = `Could not create the group: ${describeError(error)}.`
    } finally {
      submit.disabled = false
      submit.textContent = 'Create group'
    }
  })
}

/** What the server would refuse, said before anything is uploaded. */
function problemWith(members: string[], gid: string, avatar: File | undefined): string | undefined {
  if (members.length === 0) return 'Members: name at least one other person, separated by commas.'
  // "bob smith" is one name with a space, never two people: the server's names have no spaces.
  const spaced = members.find((member) => /\s/.test(member))
  if (spaced) return `Members: “${spaced}” has a space, which names cannot have; separate names with commas.`
  const invalid = members.find((member) => !identityPattern.test(member))
  if (invalid) return `Members: “${invalid}” is not a valid name (letters, digits and _ . : @ -).`
  if (!identityPattern.test(gid)) return 'Group id: use 1–128 letters, digits and _ . : @ -.'
  if (avatar && !(imageMimeTypes as readonly string[]).includes(avatar.type))
    return 'Avatar: pick a PNG, JPEG, GIF or WebP image.'
  if (avatar && avatar.size > limits.avatarBytes) return 'Avatar: pick an image of at most 5 MiB.'
  return undefined
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
}

function randomSuffix(): string {
  return crypto.randomUUID().slice(0, 6)
}
