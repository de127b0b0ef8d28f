import type * as v from 'valibot'
import { N_ } from '#schemas/msgid'
import type { ManualCreate } from '#schemas/vms'
import type { Context } from '../context'
import { imagesDir } from '../config'
import { imageFile } from '../images/files'
import { maintenanceVm, seatOf } from './names'
import { ConflictError, ValidationError } from '../errors'
import { guardRecord, missingRef, mustGet } from '../records'
import { type Actor, recordEvent } from '../events'

const KIND = N_('VM')

/**
 * A one-off VM (`labvirt launch`): a profile run writable, optionally booting an installer ISO
 * from the images directory. It runs until deleted, and shows in the console like any other VM.
 */
export async function createManual(ctx: Context, actor: Actor, input: v.InferOutput<typeof ManualCreate>) {
  const { store } = ctx
  const missing = await missingRef(store.profiles, N_('profile'), input.profile, 'profile')
  if (missing) throw new ValidationError([missing])
  if (input.cdrom) {
    const file = await imageFile(imagesDir(ctx.config), input.cdrom)
    if ('problem' in file) {
      const message = file.problem === 'missing' ? N_('No file "{file}" in the images directory') : N_('"{file}" is not a regular file of the images directory')
      throw new ValidationError([{ field: 'cdrom', message, params: { file: input.cdrom } }])
    }
  }
  if (input.boot === 'd' && !input.cdrom) throw new ValidationError([{ field: 'boot', message: N_('Booting from CD-ROM needs a CD-ROM') }])
  // Seats are named <lab>-<n>: a manual VM must not take a name a seat has or may get.
  const lab = (await store.labs.list()).find((l) => seatOf(input.name, l) !== undefined)
  if (lab) throw new ConflictError(N_('"{id}" is the name of a seat of lab "{lab}"'), { id: input.name, lab: lab.id })
  const profile = (await store.profiles.list()).find((p) => maintenanceVm(p.id) === input.name)
  if (profile) throw new ConflictError(N_('"{id}" is the name of the maintenance VM of profile "{profile}"'), { id: input.name, profile: profile.id })
  const created = await guardRecord(KIND, input.name, () => store.manual.create(input.name, input))
  await recordEvent(store, actor, 'create', KIND, created.id)
  return created
}

export async function deleteManual(ctx: Context, actor: Actor, id: string) {
  const { store } = ctx
  if (!(await store.manual.get(id))) {
    if (await store.vms.get(id)) throw new ConflictError(N_('Only one-off VMs can be deleted; "{id}" follows its lab or profile'), { id })
    await mustGet(store.manual, KIND, id)
  }
  await guardRecord(KIND, id, () => store.manual.remove(id))
  await recordEvent(store, actor, 'delete', KIND, id)
}
