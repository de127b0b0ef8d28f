import { N_ } from '#schemas/msgid'
import { open, realpath, stat } from 'node:fs/promises'
import { basename, dirname, sep } from 'node:path'
import type { ImageFormat } from '#schemas/images'
import { DomainError } from '../errors'
import { imageInfo, QemuImgError } from '../qemu/img'

/** What a checked file is: the figures an image record keeps. */
export interface CheckedImage {
  format: ImageFormat
  virtualSize: number
  actualSize: number
}

const SECTOR = 512
// ISO 9660: the primary volume descriptor's "CD001" starts one byte into sector 16 (2048 bytes each).
const ISO_MAGIC_OFFSET = 0x8001
const ISO_MAGIC = Buffer.from('CD001')

const refused = (msgid: string, params: Record<string, string> = {}) => new DomainError(415, 'not_an_image', msgid, params)

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.alloc(length)
    const { bytesRead } = await fh.read(buf, 0, length, offset)
    return buf.subarray(0, bytesRead)
  } finally {
    await fh.close()
  }
}

// Text (a script, an HTML error page saved by mistake) has no NUL byte in its first sector; every
// disk does (partition table, boot sector, or a blank disk's zeros).
const looksLikeText = (sector: Buffer) => sector.length > 0 && !sector.includes(0)

/**
 * What the file at `path` (in the images directory `dir`) is, or a 415 saying why it is no image:
 * an ISO by its signature; else what `qemu-img info` finds, of which only qcow2 (without a backing
 * file outside `dir` or an external data file) and raw (whole sectors, not text) are taken.
 * `name` is the file name the caller knows it by.
 */
export async function checkImage(dir: string, path: string, name: string): Promise<CheckedImage> {
  const { size, blocks } = await stat(path)
  if ((await readAt(path, ISO_MAGIC_OFFSET, ISO_MAGIC.length)).equals(ISO_MAGIC)) {
    return { format: 'iso', virtualSize: size, actualSize: blocks * 512 }
  }
  let info
  try {
    info = await imageInfo(path)
  } catch (err) {
    if (!(err instanceof QemuImgError)) throw err
    console.error(`[labvirt] qemu-img info ${path}:`, err.message)
    throw refused(N_('"{file}" is not a disk image qemu-img can read'), { file: name })
  }
  if (info.format === 'qcow2') {
    if (info.dataFile) throw refused(N_('"{file}" keeps its data in another file; LabVirt takes only self-contained qcow2 images'), { file: name })
    if (info.backingFile && !(await insideDir(dir, info.fullBackingFile ?? info.backingFile, path))) {
      throw refused(N_('"{file}" has a backing file outside the images directory'), { file: name })
    }
  } else if (info.format === 'raw') {
    if (size === 0 || size % SECTOR !== 0 || looksLikeText(await readAt(path, 0, SECTOR))) {
      throw refused(N_('"{file}" is neither an ISO nor a qcow2 or raw disk image'), { file: name })
    }
  } else {
    throw refused(N_('"{file}" is a {format} image; LabVirt takes qcow2, raw and ISO (convert it with qemu-img first)'), { file: name, format: info.format })
  }
  return { format: info.format, virtualSize: info.virtualSize, actualSize: info.actualSize }
}

// A backing path resolves against the image's own directory; it must be a file of `dir` itself.
async function insideDir(dir: string, backing: string, imagePath: string): Promise<boolean> {
  const full = backing.startsWith(sep) ? backing : `${dirname(imagePath)}${sep}${backing}`
  try {
    const [real, root] = await Promise.all([realpath(full), realpath(dir)])
    return real.startsWith(root + sep) && !basename(real).startsWith('.') && (await stat(real)).isFile()
  } catch {
    return false
  }
}
