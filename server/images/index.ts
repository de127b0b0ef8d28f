import { N_ } from '../../schemas/msgid'
import type * as v from 'valibot'
import { mkdir, open, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import type { Stored } from '../../storage'
import type { Image, ImageCreate, ImageUpdate } from '../../schemas/images'
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

// qemu-img overwrites whatever is at a path, so the name is claimed first with an exclusive
// create: a file already there (another request's, or one with no record) is never touched.
async function reserve(path: string, file: string) {
  try {
    await (await open(path, 'wx', 0o600)).close()
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
  const [profiles, manual] = await Promise.all([store.profiles.list(), store.manual.list()])
  return [
    { kind: N_('profiles'), ids: profiles.filter((p) => p.disks.some((d) => d.image === image.name)).map((p) => p.id) },
    { kind: N_('VMs'), ids: manual.filter((m) => m.cdrom === image.file).map((m) => m.id) },
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
  const { store, config } = ctx
  if (await store.images.get(input.name)) throw alreadyExists(KIND, input.name)
  const file = `${input.name}.qcow2`
  const path = imagePath(config, file)
  await mkdir(imagesDir(config), { recursive: true })
  await reserve(path, file)
  let created: Stored<Image>
  try {
    await qemuImg(() => createQcow2(path, input.sizeMiB))
    const info = await qemuImg(() => imageInfo(path))
    const image: Image = {
      name: input.name,
      description: input.description,
      file,
      format: info.format,
      virtualSize: info.virtualSize,
      actualSize: info.actualSize,
    }
    created = await guardRecord(KIND, input.name, () => store.images.create(input.name, image))
  } catch (err) {
    await rm(path, { force: true })
    throw err
  }
  await recordEvent(store, actor, 'create', KIND, created.id, created.revision)
  return created
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

/** Refused while a profile uses the image; the record goes first, so no record outlives its file. */
export async function deleteImage(ctx: Context, actor: Actor, id: string, revision?: number) {
  const { store, config } = ctx
  refuseIfUsed(KIND, id, await imageUsers(ctx, await mustGet(store.images, KIND, id)))
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
