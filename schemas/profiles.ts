import { N_ } from './msgid'
import * as v from 'valibot'
import { Description, Name, updateSchema } from './common'
import { extraArgIssues } from './extra-args'

export const DISK_BUSES = ['ide', 'virtio', 'scsi'] as const
export const DISK_MEDIA = ['disk', 'cdrom'] as const
export const NIC_MODELS = ['virtio', 'e1000', 'rtl8139'] as const

/** How LabVirt sees that a seat's service answers (server/network/probe.ts). */
export const PROBES = ['rdp', 'tcp', 'banner', 'none'] as const
export type ProbeKind = (typeof PROBES)[number]

export const MACHINES = ['pc', 'q35'] as const
export const SOUND_DEVICES = ['none', 'hda', 'ac97'] as const
export const DISPLAYS = ['std', 'virtio', 'qxl'] as const
export const FIRMWARES = ['bios', 'uefi'] as const
/** The SMBIOS type 1 (system) strings a profile may set: what licensing and inventory tools read. */
export const SMBIOS_FIELDS = ['manufacturer', 'product', 'version', 'serial', 'sku', 'family'] as const

const ExtraArgs = v.pipe(
  v.array(v.pipe(v.string(), v.maxLength(200))),
  v.maxLength(64),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return
    const input = dataset.value
    for (const { index, message } of extraArgIssues(input)) {
      addIssue({ message, path: [{ type: 'array', origin: 'value', input, key: index, value: input[index] }] })
    }
  }),
)

/** A CPU model name as `-cpu` takes it (host, max, qemu64, Skylake-Client...): no commas, so no flags or properties. */
export const CPU_MODEL_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,39}$/
const CpuModel = v.pipe(v.string(), v.regex(CPU_MODEL_PATTERN, N_('A CPU model name like host, max or Skylake-Client')))

/** Printable ASCII: SMBIOS strings are ASCII, and the text ends up in a QEMU option. */
export const SMBIOS_PATTERN = /^[\x20-\x7e]{1,64}$/
const SmbiosText = v.pipe(v.string(), v.regex(SMBIOS_PATTERN, N_('1 to 64 printable ASCII characters')))
const Smbios = v.strictObject(Object.fromEntries(SMBIOS_FIELDS.map((f) => [f, v.optional(SmbiosText)])) as Record<(typeof SMBIOS_FIELDS)[number], v.OptionalSchema<typeof SmbiosText, undefined>>)

export const Disk = v.strictObject({
  image: Name,
  bus: v.optional(v.picklist(DISK_BUSES), 'ide'),
  media: v.optional(v.picklist(DISK_MEDIA), 'disk'),
})

export const SESSION_GRACE_DEFAULT = 120
export const SESSION_GRACE_MAX = 86_400

const profileEntries = {
  name: Name,
  description: Description,
  memoryMiB: v.pipe(v.number(), v.integer(), v.minValue(16), v.maxValue(1024 * 1024)),
  cpus: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(256)), 1),
  nic: v.optional(v.picklist(NIC_MODELS), 'virtio'),
  disks: v.pipe(
    v.array(Disk),
    v.minLength(1),
    v.maxLength(8),
    v.check((d) => d.filter((x) => x.bus === 'ide').length <= 4, N_('At most 4 IDE disks and CD-ROMs')),
    v.check((d) => d.every((x) => x.media === 'disk' || x.bus === 'ide'), N_('A CD-ROM must be on the IDE bus')),
  ),
  machine: v.optional(v.picklist(MACHINES), 'pc'),
  /** QEMU's default model (qemu64) when null. */
  cpuModel: v.optional(v.nullable(CpuModel), null),
  /** Windows keeps the hardware clock in local time. */
  rtcLocalTime: v.optional(v.boolean(), false),
  /** An absolute pointer, so the VNC pointer follows the mouse. */
  usbTablet: v.optional(v.boolean(), false),
  sound: v.optional(v.picklist(SOUND_DEVICES), 'none'),
  display: v.optional(v.picklist(DISPLAYS), 'std'),
  smbios: v.optional(Smbios, {}),
  /** UEFI (OVMF) for modern Windows; each VM keeps its own variables. */
  firmware: v.optional(v.picklist(FIRMWARES), 'bios'),
  extraArgs: v.optional(ExtraArgs, []),
  active: v.optional(v.boolean(), true),
  /** Seats older than this restart when no terminal is connected (the seed's periodic restart). */
  restartPeriodHours: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(24 * 365))), null),
  /** How LabVirt sees that a seat's service answers: an RDP guest by default; `none`: running is ready. */
  probe: v.optional(v.picklist(PROBES), 'rdp'),
  /** A seat restarts on its snapshot once its terminal's session ended `sessionGraceSeconds` ago: the next student gets a clean machine. */
  resetAfterSession: v.optional(v.boolean(), false),
  /** How long after a session ends its seat waits for a reconnect before the reset (a quick reconnect keeps the session). */
  sessionGraceSeconds: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(SESSION_GRACE_MAX)), SESSION_GRACE_DEFAULT),
}

export const ProfileCreate = v.strictObject(profileEntries)
// `problems` and `currentVersion` are what GET adds (read only): a client may send the record back as it got it.
export const ProfileUpdate = updateSchema({ ...profileEntries, problems: v.optional(v.array(v.unknown())), currentVersion: v.optional(v.number()) })
type ProfileFields = v.InferOutput<typeof ProfileCreate>
/** A stored profile: one stored before fresh seats has neither field (read with `sessionResetOf`). */
export type Profile = Omit<ProfileFields, 'resetAfterSession' | 'sessionGraceSeconds'> & Partial<Pick<ProfileFields, 'resetAfterSession' | 'sessionGraceSeconds'>>

/** The probe of a profile as stored: one stored before the field existed is an RDP lab's. */
export const probeOf = (p: { probe?: ProbeKind }): ProbeKind => p.probe ?? 'rdp'

/** A profile's session reset as stored: one stored before the fields existed does not reset. */
export const sessionResetOf = (p: { resetAfterSession?: boolean; sessionGraceSeconds?: number }): number | undefined =>
  p.resetAfterSession ? (p.sessionGraceSeconds ?? SESSION_GRACE_DEFAULT) : undefined
