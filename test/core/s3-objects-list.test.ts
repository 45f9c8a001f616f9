import { PutObjectCommand } from '@aws-sdk/client-s3'
import { describe, expect, it } from 'vitest'
import { bucketPrefixes } from '../../lambdas/routes.js'
import { localNames } from '../../local/stack.js'
import { emulatorBucket } from '../support/buckets.js'
import { png, unique } from '../support/huddle.js'

const { s3, bucket } = emulatorBucket()

describe('listing the bucket', () => {
  it('finds every key under a prefix, in key order', async () => {
    const prefix = `${bucketPrefixes.avatars}${unique('g')}/`
    // Every character a file key may hold (a jti's), and one it never does.
    const keys = ['a', 'b.c', 'd:e', 'f_g', 'h-i', 'j é'].map((name) => `${prefix}${name}`)
    for (const key of keys)
      await s3.send(new PutObjectCommand({ Bucket: localNames.bucket, Key: key, Body: png }))
    // A neighbour whose key starts like the prefix, without its slash: not under it.
    const neighbour = `${prefix.slice(0, -1)}-other/a`
    await s3.send(new PutObjectCommand({ Bucket: localNames.bucket, Key: neighbour, Body: png }))
    // One page: the emulator's continuation tokens use DES, which Node's OpenSSL 3 no longer has.
    expect(await bucket.list(prefix)).toEqual([...keys].sort())
    expect(await bucket.list(`${prefix}zzz`)).toEqual([])
    await bucket.delete(keys[0] as string)
    expect(await bucket.list(prefix)).toEqual(keys.slice(1).sort())
  })
})
