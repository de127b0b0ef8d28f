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

/**
 * The version VM `id` of a profile runs (the canary rule, for the reconciler and for what the API
 * says a VM should run): the canary's when it is the profile's canary seat, else the current one.
 */
export function versionFor(vs: ProfileVersions, id: string): { version: Version; canary: boolean } {
  const canary = vs.canary?.seat === id ? vs.versions.find((v) => v.n === vs.canary!.version) : undefined
  return canary ? { version: canary, canary: true } : { version: currentOf(vs), canary: false }
}

/**
 * A new file for version `n` of a profile. Its own suffix: a new profile of a deleted one's name
 * must not meet a file left behind (one that backed a linked clone then).
 */
export const versionFile = (profile: string, n: number, suffix: string) => `${profile}.v${n}-${suffix}.qcow2`
/** A maintenance overlay's file. */
export const overlayFile = (profile: string, suffix: string) => `${profile}.maint-${suffix}.qcow2`
/** Whether a file of the images directory is one LabVirt names itself (a version or an overlay), never the admin's to import. */
export const isVersionFile = (file: string) => /^[a-z][a-z0-9-]*\.(?:v\d+|maint)-[0-9a-f]{8}\.qcow2$/.test(file)

/**
 * The versions nothing needs any more: not the current one nor the one before it, not a
 * canary's, and none of `inUse` (run by a VM, under a maintenance overlay, backing a file).
 */
export function unusedVersions(vs: ProfileVersions, inUse: ReadonlySet<number>): number[] {
  const current = currentOf(vs)
  const keep = new Set([current.n, current.parent, vs.canary?.version, ...inUse])
  return vs.versions.filter((v) => !keep.has(v.n)).map((v) => v.n)
}

/**
 * The clean-up's next state of a profile's versions at `now`: unused versions get `unusedSince`
 * (a used one loses it), and those unused for `graceMs`, except files that are image records
 * (`kept`: the admin's images, deleted from the images page), are dropped and returned.
 */
export function sweepVersions(vs: ProfileVersions, inUse: ReadonlySet<number>, kept: ReadonlySet<string>, now: number, graceMs: number): { next: ProfileVersions; dropped: Version[] } {
  const unused = new Set(unusedVersions(vs, inUse))
  const dropped: Version[] = []
  const versions: Version[] = []
  for (const { unusedSince, ...v } of vs.versions) {
    if (!unused.has(v.n)) {
      versions.push(v)
      continue
    }
    const since = unusedSince ?? new Date(now).toISOString()
    if (now - Date.parse(since) >= graceMs && !kept.has(v.image)) dropped.push({ ...v, unusedSince: since })
    else versions.push({ ...v, unusedSince: since })
  }
  return { next: { ...vs, versions }, dropped }
}
