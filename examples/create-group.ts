/**
 * Creates a group with an avatar and says hello in it.
 * `npm run example:create-group -- --as alice --members bob,bot [--gid g1] [--name "Friends"] [--image pic.png]`
 * Without --image the avatar is a generated PNG.
 */
import { parseArgs } from 'node:util'
import { connectAs, readImage, solidPng } from './support.js'

const { values } = parseArgs({
  options: {
    as: { type: 'string', default: 'alice' },
    gid: { type: 'string', default: `demo-${crypto.randomUUID().slice(0, 8)}` },
    name: { type: 'string', default: 'Demo group' },
    members: { type: 'string', default: 'bot' },
    image: { type: 'string' },
  },
})
const avatar = values.image ? await readImage(values.image) : solidPng(64, [46, 139, 87])
const client = await connectAs(values.as)
try {
  const members = values.members.split(',').filter(Boolean)
  const group = await client.chat().invite(values.gid, values.name, members, avatar)
  console.log(`created [${group.name}] (${group.gid}) as ${values.as}; members: ${group.members.join(', ')}`)
  if (group.image)
    console.log(`avatar (${group.image.mime}, until ${group.image.expires}): ${group.image.url}`)
  await group.message(`hello from ${values.as}`)
} finally {
  await client.close()
}
