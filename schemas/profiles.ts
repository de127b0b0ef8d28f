import { N_ } from './msgid'
import * as v from 'valibot'
import { Description, Name, updateSchema } from './common'

export const DISK_BUSES = ['ide', 'virtio', 'scsi'] as const
export const DISK_MEDIA = ['disk', 'cdrom'] as const
export const NIC_MODELS = ['virtio', 'e1000', 'rtl8139'] as const

/**
 * QEMU options LabVirt sets itself, or that would let a profile read or write host files or escape
 * the VM's sandbox; extra args may not carry them.
 */
export const RESERVED_QEMU_OPTIONS = [
  '-name', '-uuid', '-m', '-smp', '-accel', '-enable-kvm', '-machine', '-M', '-nodefaults',
  '-qmp', '-qmp-pretty', '-monitor', '-mon', '-chardev', '-vnc', '-display', '-daemonize', '-pidfile',
  '-runas', '-chroot', '-sandbox', '-drive', '-blockdev', '-hda', '-hdb', '-hdc', '-hdd', '-cdrom',
  '-snapshot', '-netdev', '-nic', '-net', '-serial', '-parallel', '-D', '-d', '-trace', '-incoming',
  '-loadvm', '-writeconfig', '-readconfig', '-object', '-plugin', '-kernel', '-initrd', '-bios',
  '-L', '-add-fd', '-fsdev', '-virtfs',
] as const

const ExtraArg = v.pipe(
  v.string(),
  v.maxLength(200),
  v.regex(/^[A-Za-z0-9_=,.:+@%-]+$/, N_('Extra arguments may hold letters, digits and _=,.:+@%- only')),
  v.check((a) => !(RESERVED_QEMU_OPTIONS as readonly string[]).includes(a.replace(/^--/, '-')), N_('LabVirt sets this option itself')),
)

export const Disk = v.strictObject({
  image: Name,
  bus: v.optional(v.picklist(DISK_BUSES), 'ide'),
  media: v.optional(v.picklist(DISK_MEDIA), 'disk'),
})

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
  extraArgs: v.optional(v.pipe(v.array(ExtraArg), v.maxLength(64)), []),
  active: v.optional(v.boolean(), true),
  /** Seats older than this restart when no terminal is connected (the seed's periodic restart). */
  restartPeriodHours: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(24 * 365))), null),
}

export const ProfileCreate = v.strictObject(profileEntries)
export const ProfileUpdate = updateSchema(profileEntries)
export type Profile = v.InferOutput<typeof ProfileCreate>
