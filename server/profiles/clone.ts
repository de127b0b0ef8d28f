import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { ProfileClone } from '#schemas/jobs'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { ConflictError, msg } from '../errors'
import { alreadyExists, guardRecord, mustGet } from '../records'
import { type Actor, recordEvent } from '../events'
import { convertWithProgress, createLinked, imageInfo } from '../qemu/img'
import { currentOf, systemDisk, versionsOf } from './version-model'
import { imageFile } from '../images/files'
import { KIND as IMAGE, qemuImg, registerImageFile } from '../images/index'
import { fileFor, noSpace, spaceLeft, writeNewFile } from '../images/place'
import { startJob } from '../jobs/index'

const PROFILE = N_('profile')
// A linked clone starts as a qcow2 header and tables: this much room is asked for it.
const LINKED_BYTES = 16 * 2 ** 20

/**
 * `POST /api/profiles/:id/clone`: a new profile `name` like `id`, whose system disk (its first
 * disk) is a new image `name`: a full qcow2 copy of the current version of the source's disk, or a linked one backed by
 * it. Everything that can be refused is refused before the job starts; the answer is the job.
 */
export async function cloneProfile(ctx: Context, actor: Actor, id: string, input: v.InferOutput<typeof ProfileClone>) {
  const { store, config } = ctx
  const dir = imagesDir(config)
  const source = await mustGet(store.profiles, PROFILE, id)
  const { name, mode } = input
  if (await store.profiles.get(name)) throw alreadyExists(PROFILE, name)
  if (await store.images.get(name)) throw alreadyExists(IMAGE, name)
  const diskAt = systemDisk(source)
  const image = diskAt < 0 ? null : await store.images.get(source.disks[diskAt]!.image)
  // What the seats run: the current version of the system disk (v1 is the image itself).
  const vs = image && versionsOf(source, await store.versions.get(id), new Map([[image.id, image]]))
  const current = vs && currentOf(vs)
  if (!image || !current || (current.format !== 'qcow2' && current.format !== 'raw')) {
    throw new ConflictError(N_('The {kind} "{id}" has no qcow2 or raw system disk to clone'), { kind: msg(PROFILE), id })
  }
  const found = await imageFile(dir, current.image)
  if ('problem' in found) throw new ConflictError(N_('The file of the image "{id}" is missing'), { id: image.id })
  const file = fileFor(name, 'qcow2')
  const taken = await imageFile(dir, file)
  if (!('problem' in taken) || taken.problem !== 'missing') {
    throw new ConflictError(N_('The file "{file}" already exists in the images directory'), { file })
  }
  const needed = mode === 'full' ? (await qemuImg(() => imageInfo(found.path))).actualSize : LINKED_BYTES
  const left = await spaceLeft(config)
  if (needed > left) throw noSpace(config, needed, left)

  return startJob(ctx, actor, `clone-${mode}`, name, async (run) => {
    const written = await writeNewFile(dir, run, file, (tmp) =>
      mode === 'full' ? qemuImg(() => convertWithProgress(found.path, current.format, tmp, run.progress, run.signal)) : qemuImg(() => createLinked(found.path, current.format, tmp)),
    )
    if (written === 'cancelled') return 'cancelled'
    await registerImageFile(ctx, actor, name, `${mode === 'full' ? 'Copy' : 'Linked clone'} of ${image.id} v${current.n}`, file)
    const { id: _id, revision: _r, createdAt: _c, updatedAt: _u, ...fields } = source
    const disks = source.disks.map((d, i) => (i === diskAt ? { ...d, image: name } : d))
    const created = await guardRecord(PROFILE, name, () => store.profiles.create(name, { ...fields, name, disks }))
    await recordEvent(store, actor, 'clone', PROFILE, name, created.revision)
    return 'done'
  })
}
