import * as v from 'valibot'
import { ImageCreate } from '../schemas/images'
import { LabCreate } from '../schemas/labs'
import { ProfileCreate } from '../schemas/profiles'
import type { Context } from './context'
import type { Actor } from './events'
import { createImage } from './images'
import { createLab } from './labs'
import { createProfile } from './profiles'

export const DEMO = 'demo'

/**
 * A lab a newcomer can watch run within a minute: a blank 64 MiB image, a 64 MiB profile and a
 * 2-seat lab in user networking. Idempotent: what exists is left as it is. Returns what it created.
 */
export async function createDemo(ctx: Context, actor: Actor) {
  const { store, config } = ctx
  const created: string[] = []
  if (!(await store.images.get(DEMO))) {
    await createImage(ctx, actor, v.parse(ImageCreate, { name: DEMO, sizeMiB: 64, description: 'LabVirt demo disk (blank)' }))
    created.push('image')
  }
  if (!(await store.profiles.get(DEMO))) {
    await createProfile(store, actor, v.parse(ProfileCreate, { name: DEMO, memoryMiB: 64, disks: [{ image: DEMO }], description: 'LabVirt demo profile' }))
    created.push('profile')
  }
  if (!(await store.labs.get(DEMO))) {
    const lab = v.parse(LabCreate, { name: DEMO, size: 2, profiles: [DEMO], network: { mode: 'user' }, description: 'LabVirt demo lab' })
    await createLab(store, actor, lab, config.forwardPorts)
    created.push('lab')
  }
  return { lab: DEMO, created }
}
