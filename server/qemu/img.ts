import { execa } from 'execa'

const qemuImg = () => process.env.LABVIRT_QEMU_IMG || 'qemu-img'

export interface ImageInfo {
  format: string
  virtualSize: number
  actualSize: number
  backingFile?: string
}

export class QemuImgError extends Error {
  constructor(public stderr: string) {
    super(stderr.trim() || 'qemu-img failed')
    this.name = 'QemuImgError'
  }
}

async function run(args: string[]) {
  const r = await execa(qemuImg(), args, { reject: false, timeout: 60_000 })
  if (r.exitCode !== 0) throw new QemuImgError(r.stderr || r.stdout || String(r.message))
  return r.stdout
}

/** A blank qcow2 of `sizeMiB`. qemu-img overwrites whatever is at `path`: callers reserve it first. */
export async function createQcow2(path: string, sizeMiB: number) {
  await run(['create', '-q', '-f', 'qcow2', path, `${sizeMiB}M`])
}

/** A qcow2 copy of the raw image `src` at `dest` (overwritten). */
export async function convertToQcow2(src: string, dest: string) {
  await run(['convert', '-q', '-f', 'raw', '-O', 'qcow2', src, dest])
}

/** `qemu-img info`, with -U so it also works on an image a running VM holds locked. */
export async function imageInfo(path: string): Promise<ImageInfo> {
  const info = JSON.parse(await run(['info', '-U', '--output=json', path]))
  return {
    format: info.format,
    virtualSize: info['virtual-size'],
    actualSize: info['actual-size'],
    backingFile: info['backing-filename'],
  }
}
