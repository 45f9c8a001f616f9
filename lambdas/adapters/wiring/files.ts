import { Attachments } from '../../core/attachments.js'
import { Avatars } from '../../core/avatars.js'
import { objects, uploads } from './objects.js'
import { contextFor, groups } from './table.js'

/** Group avatars: presigned uploads, keeping, links. */
export const avatars = new Avatars({ ...contextFor(undefined), objects }, uploads)
/** Attached files: presigned uploads, checks, keeping, downloads. */
export const attachments = new Attachments({ ...contextFor(groups), objects }, uploads)
