import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import { randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, open, realpath, rename, rm } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import type { Stored } from '#storage'
import type { Image, ImageCreate, ImageUpdate } from '#schemas/images'
import { type Config, imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, DomainError, hidePaths } from '../errors'
import { alreadyExists, guardRecord, keepName, mustGet, refuseIfUsed } from '../records'
import { type Actor, recordEvent } from '../events'
import { createQcow2, imageInfo, QemuImgError } from '../qemu/img'
import { imageFile } from './files'

export const KIND = N_('image')

/** What GET answers: the record, with the file's current size, or `missing` when the file is gone. */
export type ImageView = Stored<Image> & { missing?: true }


// Records hold a bare file name; anything else would point outside the images directory.
function imagePath(config: Pick<Config, 'dataDir'>, file: string) {
  if (!file || basename(file) !== file || file.startsWith('.')) throw new Error(`invalid image file name: ${file}`)
  return join(imagesDir(config), file)
}

// A failing qemu-img is this host's problem (binary missing, disk full), not the caller's: 503.
export async function qemuImg<T>(op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (err instanceof QemuImgError) {
      console.error('[labvirt] qemu-img failed:', err.message)
      throw new DomainError(503, 'qemu_img_failed', N_('qemu-img failed: {error}'), { error: hidePaths(err.message) })
    }
    throw err
  }
}

// Owner only (umask 077 too): QEMU opens images as root before it drops to LABVIRT_QEMU_USER.
const IMAGE_MODE = 0o600

// qemu-img overwrites whatever is at a path, so the name is claimed first with an exclusive
// create: a file already there (another request's, or one with no record) is never touched.
async function reserve(path: string, file: string) {
  try {
    await (await open(path, 'wx', IMAGE_MODE)).close()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConflictError(N_('The file "{file}" already exists in the images directory'), { file })
    }
    throw err
  }
}

export const listImages = ({ store }: Context) => store.images.list()

/** Who uses an image: the profiles with it as a disk, and one-off VMs booting its file as a CD-ROM. */
export async function imageUsers({ store }: Context, image: Pick<Image, 'name' | 'file'>) {
  const [profiles, manual, versions] = await Promise.all([store.profiles.list(), store.manual.list(), store.versions.list()])
  return [
    { kind: N_('profiles'), ids: profiles.filter((p) => p.disks.some((d) => d.image === image.name)).map((p) => p.id) },
    { kind: N_('VMs'), ids: manual.filter((m) => m.cdrom === image.file).map((m) => m.id) },
    // A profile's v1 is its disk's image file; it stays a version after the profile's disk changes.
    { kind: N_('profile versions'), ids: versions.flatMap((r) => r.versions.filter((v) => v.image === image.file).map((v) => `${r.id} v${v.n}`)) },
  ]
}

/**
 * The record with `actualSize` read live (a writable VM grows its file). Not written back: a read
 * must not bump the revision a client is about to PUT with.
 */
export async function getImage(ctx: Context, id: string): Promise<ImageView> {
  const image = await mustGet(ctx.store.images, KIND, id)
  const file = await imageFile(imagesDir(ctx.config), image.file)
  if ('problem' in file) {
    if (file.problem === 'unsafe') console.error(`[labvirt] image "${id}": ${imagePath(ctx.config, image.file)} is not a regular file in the images directory; not opened`)
    return { ...image, missing: true }
  }
  const info = await qemuImg(() => imageInfo(file.path))
  return { ...image, actualSize: info.actualSize }
}

/** A blank qcow2 `<data>/images/<name>.qcow2` and its record; on any failure neither is left. */
export async function createImage(ctx: Context, actor: Actor, input: v.InferOutput<typeof ImageCreate>): Promise<Stored<Image>> {
  return addImage(ctx, actor, input.name, input.description, (path) => qemuImg(() => createQcow2(path, input.sizeMiB)))
}

/**
 * `<data>/images/<name>.qcow2` as a copy of `source`, a qcow2 LabVirt made itself (the demo's tiny
 * guest), and its record; on any failure neither is left. The copy is written under a hidden
 * temporary name and renamed over the reserved one once complete.
 */
export async function importImage(ctx: Context, actor: Actor, name: string, description: string, source: string): Promise<Stored<Image>> {
  return addImage(ctx, actor, name, description, async (path) => {
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(3).toString('hex')}`)
    try {
      await copyFile(source, tmp)
      await chmod(tmp, IMAGE_MODE)
      // Booted by QEMU as is: a backing file could point anywhere on this host.
      const info = await qemuImg(() => imageInfo(tmp))
      if (info.format !== 'qcow2' || info.backingFile) throw new Error(`${source} is not a standalone qcow2 image`)
      await rename(tmp, path)
    } finally {
      await rm(tmp, { force: true })
    }
  })
}

async function addImage(ctx: Context, actor: Actor, name: string, description: string, fill: (path: string) => Promise<void>) {
  const { store, config } = ctx
  if (await store.images.get(name)) throw alreadyExists(KIND, name)
  const file = `${name}.qcow2`
  const path = imagePath(config, file)
  await mkdir(imagesDir(config), { recursive: true })
  await reserve(path, file)
  try {
    await fill(path)
  } catch (err) {
    await rm(path, { force: true })
    throw err
  }
  return registerImageFile(ctx, actor, name, description, file)
}

/** Only the description changes; the figures describe the file and are qemu-img's to report. */
export async function updateImage(ctx: Context, actor: Actor, id: string, input: v.InferOutput<typeof ImageUpdate>) {
  keepName(KIND, id, input.name)
  const updated = await guardRecord(KIND, id, () =>
    ctx.store.images.update(id, input.revision, (cur) => ({
      name: cur.name,
      description: input.description,
      file: cur.file,
      format: cur.format,
      virtualSize: cur.virtualSize,
      actualSize: cur.actualSize,
    })),
  )
  await recordEvent(ctx.store, actor, 'update', KIND, id, updated.revision)
  return updated
}

/**
 * The file `file` of the images directory, already complete, as the image `name`: its figures from
 * qemu-img. On any failure the file is removed, so no file outlives a refused record.
 */
export async function registerImageFile(ctx: Context, actor: Actor, name: string, description: string, file: string): Promise<Stored<Image>> {
  const path = imagePath(ctx.config, file)
  let created: Stored<Image>
  try {
    const info = await qemuImg(() => imageInfo(path))
    // Only a linked clone LabVirt made has one, always a file of the images directory (checked on import).
    const backing = info.fullBackingFile ?? info.backingFile
    created = await guardRecord(KIND, name, () =>
      ctx.store.images.create(name, {
        name, description, file, format: info.format, virtualSize: info.virtualSize, actualSize: info.actualSize,
        ...(backing ? { backingFile: basename(backing) } : {}),
      }),
    )
  } catch (err) {
    await rm(path, { force: true })
    throw err
  }
  await recordEvent(ctx.store, actor, 'create', KIND, created.id, created.revision)
  return created
}

/** The images whose qcow2 file has `image`'s file as its backing file (linked clones of it). */
export async function backedBy(ctx: Context, image: Pick<Image, 'file'>): Promise<string[]> {
  const dir = imagesDir(ctx.config)
  const target = await imageFile(dir, image.file)
  if ('problem' in target) return []
  const out: string[] = []
  for (const other of await ctx.store.images.list()) {
    if (other.format !== 'qcow2' || other.file === image.file) continue
    const found = await imageFile(dir, other.file)
    if ('problem' in found) continue
    const info = await qemuImg(() => imageInfo(found.path))
    const backing = info.fullBackingFile ?? info.backingFile
    if (!backing) continue
    const real = await realpath(resolve(dir, backing)).catch(() => undefined)
    if (real === target.path) out.push(other.id)
  }
  return out
}

/**
 * Refused while a profile uses the image or another image is backed by its file; the record goes
 * first, so no record outlives its file.
 */
export async function deleteImage(ctx: Context, actor: Actor, id: string, revision?: number) {
  const { store, config } = ctx
  const image = await mustGet(store.images, KIND, id)
  refuseIfUsed(KIND, id, [...(await imageUsers(ctx, image)), { kind: N_('images backed by it'), ids: await backedBy(ctx, image) }])
  const removed = await guardRecord(KIND, id, () => store.images.remove(id, revision))
  try {
    await rm(imagePath(config, removed.file), { force: true })
  } catch (err) {
    // The deletion has happened; a file left behind only blocks reusing the name (409), so it is
    // reported here rather than failing a request whose change is already made.
    console.error(`[labvirt] image "${id}" deleted but its file could not be removed`, err)
  }
  await recordEvent(store, actor, 'delete', KIND, id)
}
