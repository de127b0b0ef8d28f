import { copyFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TINY_GUEST_DISK_MIB, TINY_GUEST_MIB, tinyGuest as buildTinyGuest, type TinyGuest } from '#server/images/tiny-guest'
import { cacheRoot } from './cache'
import type { ApiClient } from './client'
import { create, uniqueName } from './fixtures'

export { TINY_GUEST_MIB, TINY_GUEST_PORT, TINY_GUEST_READY } from '#server/images/tiny-guest'

/** The tiny guest of the demo (server/images/tiny-guest.ts), built on first use into the tests' cache. */
export const tinyGuest = (): Promise<TinyGuest> => buildTinyGuest(cacheRoot())

/**
 * A LabVirt image holding the tiny guest's boot disk and a profile booting it from the virtio bus,
 * through the API of a server whose images directory is `imagesDir` (the test owns that server).
 */
export async function tinyGuestProfile(api: ApiClient, imagesDir: string, prefix = 'tg'): Promise<{ image: any; profile: any }> {
  const guest = await tinyGuest()
  // Same virtual size as the boot disk, so the record's figures stay true once the file is replaced.
  const image = await create(api, 'images', { name: uniqueName(`${prefix}i`), description: 'tiny guest boot disk', sizeMiB: TINY_GUEST_DISK_MIB })
  await copyFile(guest.disk, join(imagesDir, image.file))
  const profile = await create(api, 'profiles', {
    name: uniqueName(`${prefix}p`),
    description: 'tiny guest',
    memoryMiB: TINY_GUEST_MIB,
    cpus: 1,
    nic: 'virtio',
    disks: [{ image: image.id, bus: 'virtio' }],
    // Its port echoes: ready once bytes come back.
    probe: 'tcp',
  })
  return { image, profile }
}
