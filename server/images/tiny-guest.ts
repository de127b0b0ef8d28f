import { createHash, randomBytes } from 'node:crypto'
import { chmod, copyFile, mkdir, readdir, readFile, rename, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises'
import { dirname, isAbsolute, join } from 'node:path'
import { execa, type Options } from 'execa'
import { convertToQcow2 } from '../qemu/img'

// A real tiny Linux guest (QEMU-FACTS): a Debian cloud kernel and a busybox initramfs that gets an
// address by DHCP, serves TCP port 3389 (an echo service that holds each connection until the
// client closes it) and shows a banner and a shell on its screen. Built from Debian packages once
// per recipe into a cache directory; the demo lab boots it, and so do the end-to-end tests.
//
// LabVirt boots disks, not kernels: a profile's extra args may not carry -kernel/-initrd (reserved,
// and extra args cannot hold a path). So the kernel and initramfs go onto a small bootable disk: a
// FAT file system used whole (no partition table) with SYSLINUX in its boot sector, all written
// with mtools (no mount, no root). On the virtio bus SeaBIOS loads the 14 MB kernel in about 1 s
// under TCG; on IDE it takes about 5 s more.

/** Debian's cloud kernel of QEMU-FACTS; when the archive no longer has it, the current one is used. */
const KERNEL_PACKAGE = 'linux-image-6.1.0-56-cloud-amd64'
const KERNEL_META = 'linux-image-cloud-amd64'
// Names reach apt-get's command line: only what a Debian cloud kernel package is called.
const KERNEL_NAME = /^linux-image-\d[a-z0-9.+-]*-cloud-amd64$/
/** virtio-net and what it needs, in load order (the cloud kernel builds them as modules). */
const MODULES = ['virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net']
/** The boot disk's virtual size. */
export const TINY_GUEST_DISK_MIB = 32
/** A first build downloads a kernel of about 20 MB: past this the mirror is too slow to wait for. */
const BUILD_TIMEOUT_MS = 90_000

export const TINY_GUEST_PORT = 3389
/** Printed on the console (the serial port when there is one) once the guest has its lease and serves its port. */
export const TINY_GUEST_READY = 'TINY-GUEST-READY'
/** Memory the guest boots comfortably in. */
export const TINY_GUEST_MIB = 256

// Busybox's default udhcpc script path does not exist in Debian's busybox: -s names this one. The
// hostname is the seat's name when the DHCP server sends one (LabVirt's dnsmasq and user mode do).
const UDHCPC_SCRIPT = `#!/bin/sh
case "$1" in
deconfig) ip addr flush dev "$interface"; ip link set "$interface" up ;;
bound|renew)
  ip addr flush dev "$interface"
  ip addr add "$ip/$mask" dev "$interface"
  [ -z "$router" ] || ip route add default via "\${router%% *}" dev "$interface"
  [ -z "$hostname" ] || hostname "$hostname"
  ;;
esac
`

// Short DHCP timeouts with an endless retry: several guests booting at once lose leases otherwise.
// nc -ll -e forks a cat per connection, so every client is echoed and held until it closes.
// The screen (tty1, what LabVirt's console shows) gets a banner naming the seat, then a shell, so
// keys typed in the console do something visible. The init never exits: with panic=-1 that would
// reboot the guest.
const INIT = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${MODULES.join(' ')}; do insmod /lib/modules/$m.ko; done
ip link set lo up
ip link set eth0 up
until udhcpc -s /etc/udhcpc.script -i eth0 -q -n -t 5 -T 3; do sleep 1; done
nc -ll -p ${TINY_GUEST_PORT} -e /bin/cat &
addr=$(ip -4 -o addr show dev eth0)
echo "${TINY_GUEST_READY} $addr"
printf '\\033[2J\\033[H\\n  LabVirt demo seat %s\\n\\n  %s\\n  MAC %s\\n  Echo service on TCP port ${TINY_GUEST_PORT}.\\n\\n' "$(hostname)" "$(echo $addr | cut -d' ' -f4)" "$(cat /sys/class/net/eth0/address)" > /dev/tty1
while :; do setsid -c sh -l </dev/tty1 >/dev/tty1 2>&1; sleep 1; done
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
  /** A bootable qcow2 of TINY_GUEST_DISK_MIB MiB holding both: what a LabVirt profile boots. */
  disk: string
  /** The Debian package the kernel came from. */
  kernelPackage: string
}

/** The guest cannot be built on this host: a tool, a package or the Debian mirror is missing. */
export class TinyGuestError extends Error {
  override name = 'TinyGuestError'
}

const RECIPE = createHash('sha256')
  .update(JSON.stringify({ KERNEL_PACKAGE, MODULES, UDHCPC_SCRIPT, INIT, SYSLINUX_CFG, TINY_GUEST_DISK_MIB }))
  .digest('hex')
  .slice(0, 12)

/** Lookups and builds under way, by cache directory: callers at once share one. */
const pending = new Map<string, Promise<TinyGuest>>()

/**
 * The tiny guest's files under `cacheDir` (an absolute path), built on first use. Safe when several
 * callers or processes ask at once; a failure is a TinyGuestError saying why. Each call looks again,
 * so a cache emptied meanwhile is rebuilt.
 */
export function tinyGuest(cacheDir: string): Promise<TinyGuest> {
  if (!isAbsolute(cacheDir)) return Promise.reject(new TinyGuestError(`the cache directory must be an absolute path, got ${cacheDir}`))
  let found = pending.get(cacheDir)
  if (!found) {
    found = ensure(cacheDir)
      .catch((err) => {
        throw err instanceof TinyGuestError ? err : new TinyGuestError((err as Error).message)
      })
      .finally(() => pending.delete(cacheDir))
    pending.set(cacheDir, found)
  }
  return found
}

const files = (dir: string, kernelPackage: string): TinyGuest => ({
  kernel: join(dir, 'vmlinuz'),
  initrd: join(dir, 'initrd.gz'),
  disk: join(dir, 'disk.qcow2'),
  kernelPackage,
})

async function ensure(root: string): Promise<TinyGuest> {
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
    const kernelPackage = await build(tmp, AbortSignal.timeout(BUILD_TIMEOUT_MS))
    console.error(`[labvirt] tiny guest: built ${dir} from ${kernelPackage} in ${Math.round(performance.now() - started)} ms`)
    try {
      await rename(tmp, dir)
    } catch (err) {
      if (!(await readKernelPackage(dir))) throw err
    }
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
  const kernelPackage = await readKernelPackage(dir)
  if (!kernelPackage) throw new TinyGuestError(`${dir} is incomplete`)
  return files(dir, kernelPackage)
}

// kernel-package is written last: its presence means the directory is complete.
async function readKernelPackage(dir: string): Promise<string | undefined> {
  return readFile(join(dir, 'kernel-package'), 'utf8').then((t) => t.trim() || undefined, () => undefined)
}

/** Removes build directories of processes killed mid-build (an hour is far longer than a build). */
async function sweep(root: string) {
  for (const name of await readdir(root)) {
    if (!/^tiny-guest-.*\.tmp-/.test(name)) continue
    const st = await stat(join(root, name)).catch(() => undefined)
    if (st && Date.now() - st.mtimeMs > 3_600_000) await rm(join(root, name), { recursive: true, force: true })
  }
}

/** A failed command's last line of stderr, or execa's summary (a missing binary, a cancel). */
const lastWords = (r: { stderr?: unknown; shortMessage?: string }) => String(r.stderr ?? '').trim().split('\n').pop() || r.shortMessage || 'failed'

/** Runs a command (argv, no shell); a failure says which command and its last words. */
async function run(file: string, args: string[], signal: AbortSignal, opts: Options = {}) {
  const r = await execa(file, args, { reject: false, cancelSignal: signal, ...opts })
  if (r.failed) throw new TinyGuestError(`${[file, ...args].join(' ')} failed: ${lastWords(r)}`)
  return r
}

async function need(pkg: string, what: string, signal: AbortSignal) {
  const r = await execa('dpkg-query', ['-W', '-f=${Status}', pkg], { reject: false, cancelSignal: signal })
  if (!String(r.stdout).includes('install ok installed')) throw new TinyGuestError(`${what} needs the Debian package ${pkg} (run scripts/setup.sh)`)
}

/** Builds into `dir` and returns the kernel package used. */
async function build(dir: string, signal: AbortSignal): Promise<string> {
  await need('busybox-static', 'the initramfs', signal)
  await need('syslinux', 'the boot disk', signal)
  await need('mtools', 'the boot disk', signal)
  const work = join(dir, 'work')
  await mkdir(work)
  const kernelPackage = await downloadKernel(work, signal)
  const deb = (await readdir(work)).find((f) => f.startsWith(`${kernelPackage}_`) && f.endsWith('.deb'))
  if (!deb) throw new TinyGuestError(`apt-get download left no ${kernelPackage} .deb in ${work}`)
  const tree = join(work, 'kernel')
  await run('dpkg-deb', ['-x', join(work, deb), tree], signal)
  const version = kernelPackage.replace(/^linux-image-/, '')
  await copyFile(join(tree, 'boot', `vmlinuz-${version}`), join(dir, 'vmlinuz'))

  const rootfs = join(work, 'rootfs')
  for (const d of ['bin', 'lib/modules', 'etc', 'proc', 'sys', 'dev', 'tmp']) await mkdir(join(rootfs, d), { recursive: true })
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'))
  for (const applet of String((await run('/bin/busybox', ['--list-full'], signal)).stdout).split('\n').filter(Boolean)) {
    if (applet === 'bin/busybox') continue
    await mkdir(join(rootfs, dirname(applet)), { recursive: true })
    await symlink('/bin/busybox', join(rootfs, applet))
  }
  const found = await moduleFiles(join(tree, 'lib/modules', version, 'kernel'))
  for (const m of MODULES) {
    const src = found.get(m)
    if (!src) throw new TinyGuestError(`${kernelPackage} has no module ${m}`)
    const dest = join(rootfs, 'lib/modules', `${m}.ko`)
    // busybox insmod cannot read compressed modules (Debian kernels after 6.1 compress them with xz).
    if (src.endsWith('.xz')) await run('xz', ['-dc', src], signal, { stdout: { file: dest } })
    else await copyFile(src, dest)
  }
  await writeFile(join(rootfs, 'init'), INIT)
  await writeFile(join(rootfs, 'etc/udhcpc.script'), UDHCPC_SCRIPT)
  await chmod(join(rootfs, 'init'), 0o755)
  await chmod(join(rootfs, 'etc/udhcpc.script'), 0o755)
  await packInitramfs(rootfs, join(dir, 'initrd.gz'), signal)

  const raw = join(work, 'disk.raw')
  await writeFile(raw, '')
  await truncate(raw, TINY_GUEST_DISK_MIB * 1024 * 1024)
  await run('mformat', ['-i', raw, '-T', String(TINY_GUEST_DISK_MIB * 2048), '-h', '64', '-s', '32', '::'], signal)
  await run('syslinux', ['--install', raw], signal)
  await writeFile(join(work, 'syslinux.cfg'), SYSLINUX_CFG)
  await run('mcopy', ['-i', raw, join(dir, 'vmlinuz'), '::vmlinuz'], signal)
  await run('mcopy', ['-i', raw, join(dir, 'initrd.gz'), '::initrd.gz'], signal)
  await run('mcopy', ['-i', raw, join(work, 'syslinux.cfg'), '::syslinux.cfg'], signal)
  await convertToQcow2(raw, join(dir, 'disk.qcow2'))
  await rm(work, { recursive: true, force: true })
  await writeFile(join(dir, 'kernel-package'), `${kernelPackage}\n`)
  return kernelPackage
}

/** `find . | busybox cpio -o -H newc | gzip -1 > out`, as three processes piped (busybox's cpio: no cpio package needed). */
async function packInitramfs(rootfs: string, out: string, signal: AbortSignal) {
  try {
    await execa('find', ['.'], { cwd: rootfs, cancelSignal: signal })
      .pipe('/bin/busybox', ['cpio', '-o', '-H', 'newc'], { cwd: rootfs, cancelSignal: signal })
      .pipe('gzip', ['-1'], { stdout: { file: out }, cancelSignal: signal })
  } catch (err) {
    throw new TinyGuestError(`packing the initramfs failed: ${(err as { shortMessage?: string }).shortMessage ?? (err as Error).message}`)
  }
}

/** apt's first error or warning line ("E: Unable to locate package ..."), or what else it said. */
const aptSaid = (r: { stderr?: unknown; shortMessage?: string }) => String(r.stderr ?? '').split('\n').find((l) => /^[EW]: /.test(l))?.trim() || lastWords(r)

/**
 * apt-get download of the pinned kernel (refreshing the package lists once if it fails); when the
 * archive has dropped it, the kernel the cloud metapackage depends on now.
 */
async function downloadKernel(cwd: string, signal: AbortSignal): Promise<string> {
  // The sandbox user _apt cannot write into our private build directory.
  const download = (pkg: string) => execa('apt-get', ['-o', 'APT::Sandbox::User=root', 'download', pkg], { cwd, reject: false, cancelSignal: signal })
  let r = await download(KERNEL_PACKAGE)
  if (r.exitCode === 0) return KERNEL_PACKAGE
  const update = await execa('apt-get', ['update', '-qq'], { reject: false, cancelSignal: signal })
  // apt-get update exits 0 when the mirror cannot be reached (it only warns): its words explain why.
  const updateSaid = update.failed || String(update.stderr).trim() ? `; apt-get update: ${aptSaid(update)}` : ''
  r = await download(KERNEL_PACKAGE)
  if (r.exitCode === 0) return KERNEL_PACKAGE
  const deps = await execa('apt-cache', ['depends', KERNEL_META], { reject: false, cancelSignal: signal })
  const current = /Depends: (linux-image-\S+-cloud-amd64)\b/.exec(String(deps.stdout))?.[1]
  if (!current || !KERNEL_NAME.test(current)) throw new TinyGuestError(`apt-get download ${KERNEL_PACKAGE} failed: ${aptSaid(r)}${updateSaid}`)
  console.error(`[labvirt] tiny guest: ${KERNEL_PACKAGE} is no longer in the archive; using ${current}`)
  r = await download(current)
  if (r.exitCode !== 0) throw new TinyGuestError(`apt-get download ${current} failed: ${aptSaid(r)}`)
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
