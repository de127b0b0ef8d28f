import { N_ } from '#schemas/msgid'
import { createWriteStream } from 'node:fs'
import { mkdir, rename, rm } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import { join } from 'node:path'
import { Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Stored } from '#storage'
import type { Image } from '#schemas/images'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, DomainError } from '../errors'
import { guardRecord, refuseIfUsed } from '../records'
import { type Actor, recordEvent } from '../events'
import { checkImage } from './check'
import { imageUsers, KIND } from './index'
import { fileFor, noSpace, placeNew, spaceLeft, tempName } from './place'

/** Ids with an upload under way in this process (the images directory is this host's alone). */
const uploading = new Set<string>()

const tooLarge = (max: number) => new DomainError(413, 'too_large', N_('The image is too large (at most {n} bytes, LABVIRT_UPLOAD_MAX)'), { n: max })

/**
 * The bytes of `req`, as they arrive, into the file `path` (never held in memory), cut with
 * `tooBig()` once they pass `limit` and with a 400 when the sender stops sending for `idleMs`.
 * `req` is piped, not given to `pipeline`, which would destroy it on a refusal: the caller still
 * answers on it. A Transform counts in the stream's own turn (no promise per chunk).
 */
async function receive(req: IncomingMessage, path: string, limit: number, tooBig: () => DomainError, idleMs: number) {
  let received = 0
  const idle = setTimeout(() => req.destroy(new Error('upload idle')), idleMs)
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      idle.refresh()
      received += chunk.length
      if (received > limit) return done(tooBig())
      done(null, chunk)
    },
  })
  // The sender gone before the end (a cut connection, the idle timeout): the file is incomplete.
  const cut = () => {
    if (!req.complete) counter.destroy(new Error('upload cut off'))
  }
  req.once('error', cut).once('close', cut)
  try {
    req.pipe(counter)
    await pipeline(counter, createWriteStream(path, { flags: 'wx', mode: 0o600 }))
  } catch (err) {
    if (err instanceof DomainError) throw err
    throw new DomainError(400, 'aborted', N_('The upload was cut off before it was complete'))
  } finally {
    clearTimeout(idle)
    req.off('error', cut).off('close', cut)
  }
  return received
}

/**
 * `PUT /api/images/:id/content`: the request body becomes the image `id`'s file. It is written
 * under a temporary name and given its real name only once complete and checked (an ISO, a qcow2
 * or a raw disk); on any failure, a cut connection included, nothing is left. A new id creates the
 * record (201); an existing image gets the new content only while nothing uses it.
 */
export async function uploadImage(ctx: Context, actor: Actor, id: string, req: IncomingMessage, length: number | undefined): Promise<{ image: Stored<Image>; created: boolean }> {
  const { store, config } = ctx
  if (length !== undefined && length > config.uploadMaxBytes) throw tooLarge(config.uploadMaxBytes)
  if (uploading.has(id)) throw new ConflictError(N_('The image "{id}" is being uploaded already'), { id })
  uploading.add(id)
  const dir = imagesDir(config)
  const tmp = tempName('upload', id)
  try {
    const before = await store.images.get(id)
    if (before) refuseIfUsed(KIND, id, await imageUsers(ctx, before))
    await mkdir(dir, { recursive: true })
    const left = await spaceLeft(config)
    if (length !== undefined && length > left) throw noSpace(config, length, left)
    const limit = Math.min(config.uploadMaxBytes, left)
    const tooBig = () => (limit === config.uploadMaxBytes ? tooLarge(limit) : noSpace(config, limit + 1, left))
    const size = await receive(req, join(dir, tmp), limit, tooBig, config.requestTimeoutMs)
    if (length !== undefined && size !== length) throw new DomainError(400, 'aborted', N_('The upload was cut off before it was complete'))
    const checked = await checkImage(dir, join(dir, tmp), id)
    const file = fileFor(id, checked.format)
    return await (before ? replace(ctx, actor, id, tmp, file, checked) : create(ctx, actor, id, tmp, file, checked))
  } finally {
    uploading.delete(id)
    await rm(join(dir, tmp), { force: true })
  }
}

async function create(ctx: Context, actor: Actor, id: string, tmp: string, file: string, checked: Pick<Image, 'format' | 'virtualSize' | 'actualSize'>) {
  const dir = imagesDir(ctx.config)
  await placeNew(dir, tmp, file)
  let image: Stored<Image>
  try {
    image = await guardRecord(KIND, id, () => ctx.store.images.create(id, { name: id, description: '', file, ...checked }))
  } catch (err) {
    await rm(join(dir, file), { force: true })
    throw err
  }
  await recordEvent(ctx.store, actor, 'upload', KIND, id, image.revision)
  return { image, created: true }
}

// The users are asked again: a profile may have taken the image while its bytes arrived.
async function replace(ctx: Context, actor: Actor, id: string, tmp: string, file: string, checked: Pick<Image, 'format' | 'virtualSize' | 'actualSize'>) {
  const dir = imagesDir(ctx.config)
  const current = await ctx.store.images.get(id)
  if (!current) return create(ctx, actor, id, tmp, file, checked)
  refuseIfUsed(KIND, id, await imageUsers(ctx, current))
  if (file === current.file) await rename(join(dir, tmp), join(dir, file))
  else await placeNew(dir, tmp, file)
  const image = await guardRecord(KIND, id, () => ctx.store.images.update(id, undefined, (cur) => ({ name: cur.name, description: cur.description, file, ...checked })))
  if (file !== current.file) await rm(join(dir, current.file), { force: true })
  await recordEvent(ctx.store, actor, 'upload', KIND, id, image.revision)
  return { image, created: false }
}
