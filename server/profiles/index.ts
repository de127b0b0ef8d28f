import { N_ } from '#schemas/msgid'
import type * as v from 'valibot'
import type { Repositories, Stored } from '#storage'
import { type Profile, type ProfileCreate, type ProfileUpdate, SESSION_GRACE_DEFAULT } from '#schemas/profiles'
import { type FieldIssue, ValidationError } from '../errors'
import { guardRecord, keepName, missingRef, mustGet, refuseIfUsed, unlessConflict } from '../records'
import { type Actor, recordEvent } from '../events'
import { DEFAULT_LANGUAGE, type Language, translate } from '../i18n'
import { extraArgIssues } from '#schemas/extra-args'
import type { ProfileVersions } from '#schemas/versions'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { imagesDir } from '../config'
import type { Context } from '../context'
import { backedBy } from '../images/index'

const KIND = N_('profile')
type ProfileInput = v.InferOutput<typeof ProfileCreate> | v.InferOutput<typeof ProfileUpdate>

// Every disk must name an existing image, once: the same file twice in one VM is refused by
// QEMU's image locking as soon as it runs writable (maintenance).
async function checkProfile(store: Repositories, id: string, input: ProfileInput): Promise<Profile> {
  const issues: FieldIssue[] = []
  const seen = new Set<string>()
  for (const [i, disk] of input.disks.entries()) {
    const field = `disks.${i}.image`
    if (seen.has(disk.image)) issues.push({ field, message: N_('Listed twice') })
    else {
      const missing = await missingRef(store.images, N_('image'), disk.image, field)
      if (missing) issues.push(missing)
    }
    seen.add(disk.image)
  }
  if (issues.length) throw new ValidationError(issues)
  // Built field by field so the metadata a PUT echoes back (id, dates) is not stored as data.
  return {
    name: id,
    description: input.description,
    memoryMiB: input.memoryMiB,
    cpus: input.cpus,
    nic: input.nic,
    disks: input.disks.map((d) => ({ image: d.image, bus: d.bus, media: d.media })),
    machine: input.machine,
    cpuModel: input.cpuModel,
    rtcLocalTime: input.rtcLocalTime,
    usbTablet: input.usbTablet,
    sound: input.sound,
    display: input.display,
    smbios: input.smbios,
    firmware: input.firmware,
    extraArgs: input.extraArgs,
    active: input.active,
    restartPeriodHours: input.restartPeriodHours,
    probe: input.probe,
    resetAfterSession: input.resetAfterSession,
    sessionGraceSeconds: input.sessionGraceSeconds,
  }
}

/** A profile as the API shows it: with what in it LabVirt refuses to start, in the reader's language. */
export type ProfileView = Stored<Profile> & { problems: { field: string; message: string }[]; currentVersion: number }

// A profile stored before the extra arguments allowlist keeps its arguments (never rewritten
// behind the admin's back); its VMs do not start, and this says which ones are refused and why.
// A profile never published runs its disk's image as v1.
function view(profile: Stored<Profile>, versions: ProfileVersions | null | undefined, lang: Language): ProfileView {
  const problems = extraArgIssues(profile.extraArgs ?? []).map((i) => ({ field: `extraArgs.${i.index}`, message: translate(lang, i.message) }))
  // A profile stored before fresh seats existed reads as one that does not reset.
  const reset = { resetAfterSession: profile.resetAfterSession ?? false, sessionGraceSeconds: profile.sessionGraceSeconds ?? SESSION_GRACE_DEFAULT }
  return { ...profile, ...reset, problems, currentVersion: versions?.currentVersion ?? 1 }
}

export async function listProfiles(store: Repositories, lang: Language = DEFAULT_LANGUAGE) {
  const [profiles, versions] = await Promise.all([store.profiles.list(), store.versions.list()])
  const of = new Map(versions.map((v) => [v.id, v]))
  return profiles.map((p) => view(p, of.get(p.id), lang))
}

export async function getProfile(store: Repositories, id: string, lang: Language = DEFAULT_LANGUAGE) {
  const [profile, versions] = await Promise.all([mustGet(store.profiles, KIND, id), store.versions.get(id)])
  return view(profile, versions, lang)
}

export async function createProfile(store: Repositories, actor: Actor, input: v.InferOutput<typeof ProfileCreate>): Promise<Stored<Profile>> {
  const profile = await checkProfile(store, input.name, input)
  const created = await guardRecord(KIND, input.name, () => store.profiles.create(input.name, profile))
  await recordEvent(store, actor, 'create', KIND, created.id, created.revision)
  return created
}

export async function updateProfile(store: Repositories, actor: Actor, id: string, input: v.InferOutput<typeof ProfileUpdate>) {
  keepName(KIND, id, input.name)
  await mustGet(store.profiles, KIND, id)
  const profile = await checkProfile(store, id, input)
  const updated = await guardRecord(KIND, id, () => store.profiles.update(id, input.revision, () => profile))
  await recordEvent(store, actor, 'update', KIND, id, updated.revision)
  return updated
}

/**
 * Refused while a lab, a VM or maintenance uses the profile, or a linked clone is backed by one of
 * its versions. Its versions' own files go with it (v1 and any version that is an image record's
 * file stay: they are images); a seat still running one keeps its open file until it stops.
 */
export async function deleteProfile(ctx: Context, actor: Actor, id: string, revision?: number) {
  const { store, config } = ctx
  await mustGet(store.profiles, KIND, id)
  const [labs, manual, maintenance, versions, images] = await Promise.all([store.labs.list(), store.manual.list(), store.maintenance.get(id), store.versions.get(id), store.images.list()])
  const imageFiles = new Set(images.map((i) => i.file))
  const files = (versions?.versions ?? []).map((v) => v.image).filter((f) => !imageFiles.has(f))
  const backed = [...new Set((await Promise.all(files.map((file) => backedBy(ctx, { file })))).flat())]
  refuseIfUsed(KIND, id, [
    { kind: N_('labs'), ids: labs.filter((l) => l.profiles.includes(id)).map((l) => l.id) },
    { kind: N_('VMs'), ids: [...manual.filter((m) => m.profile === id).map((m) => m.id), ...(maintenance ? [`${id}-maint`] : [])] },
    { kind: N_('images backed by it'), ids: backed },
  ])
  await guardRecord(KIND, id, () => store.profiles.remove(id, revision))
  // A new profile of this name starts at v1.
  await store.versions.remove(id).catch(unlessConflict)
  for (const file of files) {
    // The deletion has happened: a file left behind is reported, not a failed request (see deleteImage).
    await rm(join(imagesDir(config), file), { force: true }).catch((err) => console.error(`[labvirt] profile "${id}" deleted but its version file ${file} could not be removed`, err))
  }
  await recordEvent(store, actor, 'delete', KIND, id)
}
