import { N_ } from '#schemas/msgid'
import * as v from 'valibot'
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { FILE_PATTERN, type Image, type ImageImport, ImageName } from '#schemas/images'
import type { Stored } from '#storage'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, ValidationError } from '../errors'
import { alreadyExists, guardRecord } from '../records'
import { type Actor, recordEvent } from '../events'
import { convertRawToQcow2 } from '../qemu/img'
import { checkImage } from './check'
import { imageFile } from './files'
import { KIND, qemuImg } from './index'
import { fileFor, isTempName, noSpace, placeNew, spaceLeft, tempName } from './place'
import { isVersionFile } from '../profiles/version-model'

/** A file of the images directory that no image record names yet. */
export interface Unimported {
  file: string
  size: number
  modifiedAt: string
}

/**
 * `GET /api/images/unimported`: regular files of the images directory (symlinks out of it, and
 * names an import would refuse, are left out) that no image record names.
 */
export async function listUnimported(ctx: Context): Promise<Unimported[]> {
  const dir = imagesDir(ctx.config)
  const names = await readdir(dir).catch((err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[]
    throw err
  })
  const [images, versions, maintenance] = await Promise.all([ctx.store.images.list(), ctx.store.versions.list(), ctx.store.maintenance.list()])
  // Profiles' versions and maintenance overlays are LabVirt's own files, not the admin's to import,
  // also when no record names them any more (one a profile's deletion could not remove).
  const known = new Set([...images.map((i) => i.file), ...versions.flatMap((r) => r.versions.map((v) => v.image)), ...maintenance.flatMap((m) => (m.overlay ? [m.overlay] : []))])
  const out: Unimported[] = []
  for (const file of names.sort()) {
    if (known.has(file) || isVersionFile(file) || !FILE_PATTERN.test(file)) continue
    const found = await imageFile(dir, file)
    if ('problem' in found) continue
    const s = await stat(found.path)
    out.push({ file, size: s.size, modifiedAt: s.mtime.toISOString() })
  }
  return out
}

/** Leftovers of uploads and conversions a crash interrupted: removed at start. */
export async function sweepTempFiles(ctx: Context) {
  const dir = imagesDir(ctx.config)
  for (const file of await readdir(dir).catch(() => [] as string[])) {
    if (isTempName(file)) await rm(join(dir, file), { force: true })
  }
}

// The default name: the file's, lowercased, up to its first dot (`Debian-12.iso` -> `debian-12`).
function defaultName(file: string): string | undefined {
  const name = file.split('.')[0]!.toLowerCase()
  return v.safeParse(ImageName, name).success ? name : undefined
}

/**
 * `POST /api/images/import`: a file an admin copied into the images directory becomes an image,
 * checked as an upload is. With `convert`, a raw disk becomes a qcow2 `<name>.qcow2` (written
 * under a temporary name, then renamed) and the raw file is removed.
 */
export async function importImage(ctx: Context, actor: Actor, input: v.InferOutput<typeof ImageImport>): Promise<Stored<Image>> {
  const { store, config } = ctx
  const dir = imagesDir(config)
  const name = input.name ?? defaultName(input.file)
  if (!name) throw new ValidationError([{ field: 'name', message: N_('"{file}" does not make an image name: give one'), params: { file: input.file } }])
  const found = await imageFile(dir, input.file)
  if ('problem' in found) {
    const message = found.problem === 'missing' ? N_('No file "{file}" in the images directory') : N_('"{file}" is not a regular file of the images directory')
    throw new ValidationError([{ field: 'file', message, params: { file: input.file } }])
  }
  if (await store.images.get(name)) throw alreadyExists(KIND, name)
  const owner = (await store.images.list()).find((i) => i.file === input.file)
  if (owner) throw new ConflictError(N_('The file "{file}" is the image "{id}" already'), { file: input.file, id: owner.id })
  let checked = await checkImage(dir, found.path, input.file)
  let file = input.file
  if (input.convert && checked.format === 'raw') {
    const left = await spaceLeft(config)
    if (checked.actualSize > left) throw noSpace(config, checked.actualSize, left)
    file = fileFor(name, 'qcow2')
    const tmp = tempName('convert', name)
    try {
      await qemuImg(() => convertRawToQcow2(found.path, join(dir, tmp)))
      checked = await checkImage(dir, join(dir, tmp), file)
      await placeNew(dir, tmp, file)
    } finally {
      await rm(join(dir, tmp), { force: true })
    }
  }
  let image: Stored<Image>
  try {
    image = await guardRecord(KIND, name, () => store.images.create(name, { name, description: input.description, file, ...checked }))
  } catch (err) {
    if (file !== input.file) await rm(join(dir, file), { force: true })
    throw err
  }
  if (file !== input.file) await rm(found.path, { force: true })
  await recordEvent(store, actor, 'import', KIND, name, image.revision)
  return image
}
