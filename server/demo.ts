import { N_ } from '#schemas/msgid'
import * as v from 'valibot'
import { ImageCreate } from '#schemas/images'
import { LabCreate } from '#schemas/labs'
import { ProfileCreate } from '#schemas/profiles'
import type { Context } from './context'
import { type Actor, recordEvent } from './events'
import { type Language, translate } from './i18n'
import { createImage, importImage } from './images'
import { TINY_GUEST_MIB, tinyGuest, TinyGuestError } from './images/tiny-guest'
import { createLab } from './labs'
import { createProfile } from './profiles'

export const DEMO = 'demo'

const BLANK_WARNING = N_('The demo disk is blank (its seats start but boot nothing): the tiny Linux guest could not be built: {reason}')

export interface DemoAnswer {
  lab: string
  /** What this call made: `image`, `profile`, `lab`. */
  created: string[]
  /** The disk the image got, when this call made it: the tiny Linux guest, or a blank one. */
  disk?: 'tiny-guest' | 'blank'
  /** Why the disk is blank, in the caller's language. */
  warning?: string
}

// One demo at a time in this process: two clicks at once get the same lab, not a 409 for the second.
let queue: Promise<unknown> = Promise.resolve()

/**
 * A lab a newcomer can watch run within a minute: the tiny Linux guest's disk (built from Debian
 * packages on first use, seconds, then cached), a profile sized for it and a 2-seat lab in user
 * networking whose seats show a screen and answer on their forwarded port. When the guest cannot be
 * built here (no Debian mirror, a tool missing) the image is a blank disk and the answer and the
 * event log say why. Idempotent: what exists is left as it is.
 *
 * It answers once everything is made: the console shows the lab's seats with the real guest at
 * once, rather than a lab that appears later, and the answer can say which disk it got. The build
 * is bounded (server/images/tiny-guest.ts), a cached guest is a file copy.
 */
export function createDemo(ctx: Context, actor: Actor, lang: Language): Promise<DemoAnswer> {
  const run = queue.then(() => makeDemo(ctx, actor, lang))
  queue = run.catch(() => {})
  return run
}

async function makeDemo(ctx: Context, actor: Actor, lang: Language): Promise<DemoAnswer> {
  const { store, config } = ctx
  const answer: DemoAnswer = { lab: DEMO, created: [] }
  if (!(await store.images.get(DEMO))) {
    try {
      const guest = await tinyGuest(config.cacheDir)
      await importImage(ctx, actor, DEMO, `LabVirt demo disk: a tiny Linux guest (${guest.kernelPackage}, busybox)`, guest.disk)
      answer.disk = 'tiny-guest'
    } catch (err) {
      if (!(err instanceof TinyGuestError)) throw err
      console.error(`[labvirt] demo: blank disk, the tiny guest could not be built: ${err.message}`)
      const image = await createImage(ctx, actor, v.parse(ImageCreate, { name: DEMO, sizeMiB: 64, description: 'LabVirt demo disk (blank)' }))
      const message = { msgid: BLANK_WARNING, params: { reason: err.message } }
      await recordEvent(store, actor, 'blank-disk', N_('image'), DEMO, image.revision, message)
      answer.disk = 'blank'
      answer.warning = translate(lang, message.msgid, message.params)
    }
    answer.created.push('image')
  }
  if (!(await store.profiles.get(DEMO))) {
    // The tiny guest's needs (the tests boot it the same way); a blank disk boots nothing either way.
    // Its port echoes (it speaks no RDP): ready once bytes come back.
    const profile = { name: DEMO, memoryMiB: TINY_GUEST_MIB, cpus: 1, nic: 'virtio', disks: [{ image: DEMO, bus: 'virtio' }], description: 'LabVirt demo profile', probe: 'tcp' }
    await createProfile(store, actor, v.parse(ProfileCreate, profile))
    answer.created.push('profile')
  }
  if (!(await store.labs.get(DEMO))) {
    const lab = v.parse(LabCreate, { name: DEMO, size: 2, profiles: [DEMO], network: { mode: 'user' }, description: 'LabVirt demo lab' })
    await createLab(store, actor, lab, config.forwardPorts)
    answer.created.push('lab')
  }
  return answer
}
