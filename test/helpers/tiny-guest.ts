import { createHash, randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'
import { execa } from 'execa'
import type { ApiClient } from './client'
import { create, uniqueName } from './fixtures'

// The real tiny guest of QEMU-FACTS: a Debian cloud kernel and a busybox initramfs that gets an
// address by DHCP and serves TCP port 3389 (an echo service that holds each connection until the
// client closes it). Built from Debian packages once per recipe and cached in
// ~/.cache/labvirt-tests (outside the repository, so it survives between runs on one machine and
// needs no .gitignore; a fresh machine just builds it, about 10 s).
//
// LabVirt boots disks, not kernels: a profile's extra args may not carry -kernel/-initrd (reserved,
// and extra args cannot hold a path). So the kernel and initramfs also go onto a small bootable
// disk: a FAT file system used whole (no partition table) with SYSLINUX in its boot sector, all
// written with mtools (no mount, no root). On the virtio bus SeaBIOS loads the 14 MB kernel in about
// 1 s under TCG; on IDE it takes about 5 s more.

/** Debian's cloud kernel of QEMU-FACTS; when the archive no longer has it, the current one is used. */
const KERNEL_PACKAGE = 'linux-image-6.1.0-56-cloud-amd64'
const KERNEL_META = 'linux-image-cloud-amd64'
/** virtio-net and what it needs, in load order (the cloud kernel builds them as modules). */
const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net']
const DISK_MIB = 32

export const TINY_GUEST_PORT = 3389
/** Printed on the serial console (ttyS0) once the guest has its lease and serves its port. */
export const TINY_GUEST_READY = 'TINY-GUEST-READY'
/** Memory the guest boots comfortably in. */
export const TINY_GUEST_MIB = 256

// Busybox's default udhcpc script path does not exist in Debian's busybox: -s names this one.
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -z "$router" ] || ip route add default via "\${router%% *}" dev "$interface"
  ;;
esac
`

// Short DHCP timeouts with an endless retry: several guests booting at once lose leases otherwise.
// nc -ll -e forks a cat per connection, so every client is echoed and held until it closes.
// The init never exits: with panic=-1 that would reboot the guest.
const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.join(' ')}; do insmod /lib/modules/$m.ko; done
ip link set lo up
ip link set eth0 up
until udhcpc -s /etc/udhcpc.script -i eth0 -q -n -t 5 -T 3; do sleep 1; done
nc -ll -p ${TINY_GUEST_PORT} -e /bin/cat &
echo "${TINY_GUEST_READY} $(ip -4 -o addr show dev eth0)"
while :; do sleep 3600; done
`

// console=ttyS0 last: /dev/console is the serial port when there is one (the smoke test's); a
// LabVirt seat has none (-nodefaults) and the kernel falls back to the VGA console.
const SYSLINUX_CFG = `DEFAULT tiny
PROMPT 0
TIMEOUT 0
LABEL tiny
  LINUX vmlinuz
  INITRD initrd.gz
  APPEND console=tty0 console=ttyS0 quiet panic=-1
`

export interface TinyGuest {
  /** The kernel image (bzImage), for -kernel. */
  kernel: string
  /** The gzipped newc initramfs, for -initrd. */
  initrd: string
  /** A bootable qcow2 of DISK_MIB MiB holding both: what a LabVirt profile boots. */
  disk: string
  /** The Debian package the kernel came from. */
  kernelPackage: string
}

const RECIPE = createHash('sha256')
  .update(JSON.stringify({ KERNEL_PACKAGE, MODULES, UDHCPC_SCRIPT, INIT, SYSLINUX_CFG, DISK_MIB }))
  .digest('hex')
  .slice(0, 12)

export const cacheRoot = () => join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'labvirt-tests')

let building: Promise<TinyGuest> | undefined

/** The tiny guest's files, built on first use. Safe when several processes ask at once. */
export function tinyGuest(): Promise<TinyGuest> {
  building ??= ensure().catch((err) => {
    building = undefined
    throw err
  })
  return building
}

const files = (dir: string, kernelPackage: string): TinyGuest => ({
  kernel: join(dir, 'vmlinuz'),
  initrd: join(dir, 'initrd.gz'),
  disk: join(dir, 'disk.qcow2'),
  kernelPackage,
})

async function ensure(): Promise<TinyGuest> {
  const root = cacheRoot()
  const dir = join(root, `tiny-guest-${RECIPE}`)
  const done = await readKernelPackage(dir)
  if (done) return files(dir, done)
  await mkdir(root, { recursive: true })
  await sweep(root)
  // Built aside and renamed into place: a reader never sees half a guest. Two processes that build
  // at once both succeed; the second rename fails and that one uses the first one's result.
  const tmp = join(root, `tiny-guest-${RECIPE}.tmp-${process.pid}-${randomBytes(3).toString('hex')}`)
  await mkdir(tmp)
  try {
    const started = performance.now()
    const kernelPackage = await build(tmp)
    console.error(`[tiny-guest] built ${dir} from ${kernelPackage} in ${Math.round(performance.now() - started)} ms`)
    try {
      await rename(tmp, dir)
    } catch (err) {
      if (!(await readKernelPackage(dir))) throw err
    }
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  const kernelPackage = await readKernelPackage(dir)
  if (!kernelPackage) throw new Error(`tiny guest: ${dir} is incomplete`)
  return files(dir, kernelPackage)
}

// kernel-package is written last: its presence means the directory is complete.
async function readKernelPackage(dir: string): Promise<string | undefined> {
  return readFile(join(dir, 'kernel-package'), 'utf8').then((t) => t.trim() || undefined, () => undefined)
}

/** Removes build directories of runs killed mid-build (an hour is far longer than a build). */
async function sweep(root: string) {
  for (const name of await readdir(root)) {
    if (!/^tiny-guest-.*\.tmp-/.test(name)) continue
    const st = await stat(join(root, name)).catch(() => undefined)
    if (st && Date.now() - st.mtimeMs > 3_600_000) await rm(join(root, name), { recursive: true, force: true })
  }
}

async function need(pkg: string, what: string) {
  const r = await execa('dpkg-query', ['-W', '-f=${Status}', pkg], { reject: false })
  if (!r.stdout.includes('install ok installed')) throw new Error(`tiny guest: ${what} needs the Debian package ${pkg} (run scripts/setup.sh)`)
}

/** Builds into `dir` and returns the kernel package used. */
async function build(dir: string): Promise<string> {
  await need('busybox-static', 'the initramfs')
  await need('syslinux', 'the boot disk')
  await need('mtools', 'the boot disk')
  const work = join(dir, 'work')
  await mkdir(work)
  const kernelPackage = await downloadKernel(work)
  const deb = (await readdir(work)).find((f) => f.startsWith(`${kernelPackage}_`) && f.endsWith('.deb'))
  if (!deb) throw new Error(`tiny guest: apt-get download left no ${kernelPackage} .deb in ${work}`)
  const tree = join(work, 'kernel')
  await execa('dpkg-deb', ['-x', join(work, deb), tree])
  const version = kernelPackage.replace(/^linux-image-/, '')
  await copyFile(join(tree, 'boot', `vmlinuz-${version}`), join(dir, 'vmlinuz'))

  const rootfs = join(work, 'rootfs')
  for (const d of ['bin', 'lib/modules', 'etc', 'proc', 'sys', 'dev', 'tmp']) await mkdir(join(rootfs, d), { recursive: true })
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'))
  for (const applet of (await execa('/bin/busybox', ['--list-full'])).stdout.split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox') continue
    await mkdir(join(rootfs, dirname(applet)), { recursive: true })
    await symlink('/bin/busybox', join(rootfs, applet))
  }
  const found = await moduleFiles(join(tree, 'lib/modules', version, 'kernel'))
  for (const m of MODULES) {
    const src = found.get(m)
    if (!src) throw new Error(`tiny guest: ${kernelPackage} has no module ${m}`)
    const dest = join(rootfs, 'lib/modules', `${m}.ko`)
    // busybox insmod cannot read compressed modules (Debian kernels after 6.1 compress them with xz).
    if (src.endsWith('.xz')) await execa('xz', ['-dc', src], { stdout: { file: dest } })
    else await copyFile(src, dest)
  }
  await writeFile(join(rootfs, 'init'), INIT)
  await writeFile(join(rootfs, 'etc/udhcpc.script'), UDHCPC_SCRIPT)
  await chmod(join(rootfs, 'init'), 0o755)
  await chmod(join(rootfs, 'etc/udhcpc.script'), 0o755)
  // busybox's own cpio: no cpio package needed.
  await execa('sh', ['-c', 'cd "$1" && find . | /bin/busybox cpio -o -H newc | gzip -1 > "$2"', 'sh', rootfs, join(dir, 'initrd.gz')])

  const raw = join(work, 'disk.raw')
  await execa('truncate', ['-s', `${DISK_MIB}M`, raw])
  await execa('mformat', ['-i', raw, '-T', String(DISK_MIB * 2048), '-h', '64', '-s', '32', '::'])
  await execa('syslinux', ['--install', raw])
  await writeFile(join(work, 'syslinux.cfg'), SYSLINUX_CFG)
  await execa('mcopy', ['-i', raw, join(dir, 'vmlinuz'), '::vmlinuz'])
  await execa('mcopy', ['-i', raw, join(dir, 'initrd.gz'), '::initrd.gz'])
  await execa('mcopy', ['-i', raw, join(work, 'syslinux.cfg'), '::syslinux.cfg'])
  await execa('qemu-img', ['convert', '-O', 'qcow2', raw, join(dir, 'disk.qcow2')])
  await rm(work, { recursive: true, force: true })
  await writeFile(join(dir, 'kernel-package'), `${kernelPackage}\n`)
  return kernelPackage
}

/**
 * apt-get download of the pinned kernel (refreshing the package lists once if it fails); when the
 * archive has dropped it, the kernel the cloud metapackage depends on now.
 */
async function downloadKernel(cwd: string): Promise<string> {
  // The sandbox user _apt cannot write into our private build directory.
  const download = (pkg: string) => execa('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', pkg], { cwd, reject: false })
  let r = await download(KERNEL_PACKAGE)
  if (r.exitCode === 0) return KERNEL_PACKAGE
  const update = await execa('apt-get', ['update', '-qq'], { reject: false })
  if (update.exitCode !== 0) throw new Error(`tiny guest: apt-get download ${KERNEL_PACKAGE} failed (${r.stderr.trim()}) and apt-get update failed: ${update.stderr.trim()}`)
  r = await download(KERNEL_PACKAGE)
  if (r.exitCode === 0) return KERNEL_PACKAGE
  const deps = await execa('apt-cache', ['depends', KERNEL_META])
  const current = /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(deps.stdout)?.[1]
  if (!current) throw new Error(`tiny guest: ${KERNEL_PACKAGE} is not in the archive and ${KERNEL_META} names no kernel:\n${deps.stdout}`)
  console.error(`[tiny-guest] ${KERNEL_PACKAGE} is no longer in the archive; using ${current}`)
  r = await download(current)
  if (r.exitCode !== 0) throw new Error(`tiny guest: apt-get download ${current} failed: ${r.stderr.trim()}`)
  return current
}

async function moduleFiles(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>()
  for (const rel of await readdir(dir, { recursive: true })) {
    const m = /(?:^|\/)([^/]+)\.ko(?:\.xz)?$/.exec(rel)
    if (m) out.set(m[1]!, join(dir, rel))
  }
  return out
}

/**
 * A LabVirt image holding the tiny guest's boot disk and a profile booting it from the virtio bus,
 * through the API of a server whose images directory is `imagesDir` (the test owns that server).
 */
export async function tinyGuestProfile(api: ApiClient, imagesDir: string, prefix = 'tg'): Promise<{ image: any; profile: any }> {
  const guest = await tinyGuest()
  // Same virtual size as the boot disk, so the record's figures stay true once the file is replaced.
  const image = await create(api, 'images', { name: uniqueName(`${prefix}i`), description: 'tiny guest boot disk', sizeMiB: DISK_MIB })
  await copyFile(guest.disk, join(imagesDir, image.file))
  const profile = await create(api, 'profiles', {
    name: uniqueName(`${prefix}p`),
    description: 'tiny guest',
    memoryMiB: TINY_GUEST_MIB,
    cpus: 1,
    nic: 'virtio',
    disks: [{ image: image.id, bus: 'virtio' }],
  })
  return { image, profile }
}
