import type { Stored } from '#storage'
import type { Profile } from '#schemas/profiles'
import type { Image } from '#schemas/images'
import type { ProfileVersions, Version } from '#schemas/versions'

/** The disk that has versions: a profile's first disk that is not a CD-ROM; -1 when it has none. */
export const systemDisk = (profile: Pick<Profile, 'disks'>) => profile.disks.findIndex((d) => d.media === 'disk')

/**
 * A profile's versions: its record, or, for a profile never published, v1 = its system disk's
 * image as it is today (read as such, never migrated). Undefined without a system disk image.
 */
export function versionsOf(profile: Stored<Profile>, stored: ProfileVersions | undefined | null, images: ReadonlyMap<string, Pick<Image, 'file' | 'format'>>): ProfileVersions | undefined {
  if (stored) return stored
  const at = systemDisk(profile)
  const image = at < 0 ? undefined : images.get(profile.disks[at]!.image)
  if (!image) return undefined
  const v1: Version = { n: 1, image: image.file, format: image.format, createdAt: profile.createdAt, createdBy: 'system', note: '' }
  return { currentVersion: 1, moveNow: false, versions: [v1] }
}

export const currentOf = (vs: ProfileVersions) => vs.versions.find((v) => v.n === vs.currentVersion)!

/** The file the version `n` of a profile would be written to. */
export const versionFile = (profile: string, n: number) => `${profile}.v${n}.qcow2`
