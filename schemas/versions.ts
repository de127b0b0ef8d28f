/** One published version of a profile's system disk (its first non-CD-ROM disk). */
export interface Version {
  n: number
  /** Its file in the images directory: never written once published. */
  image: string
  /** How QEMU and qemu-img open the file (`qcow2` or `raw`). */
  format: string
  createdAt: string
  createdBy: string
  note: string
  /** The version it was made from; none for v1. */
  parent?: number
  /** Since when nothing uses it (clean-up deletes it LABVIRT_VERSION_GRACE later). */
  unusedSince?: string
}

/**
 * A profile's versions, as stored under `versions:<profile>`. A profile without this record has
 * one version, v1: its system disk's image as it is (nothing to migrate, no file rewritten).
 */
export interface ProfileVersions {
  currentVersion: number
  /**
   * Whether seats behind the current version restart onto it as soon as no terminal is on them
   * (`publish {force}`, a rollback), rather than at their next restart.
   */
  moveNow: boolean
  versions: Version[]
  /** The highest number ever given (a deleted version's number is never reused). */
  lastVersion?: number
  /** A version published to one seat first: only that seat runs it until `promote` or `rollback`. */
  canary?: { seat: string; version: number }
}
