import { N_, type Quantity } from '#schemas/msgid'
import { randomBytes } from 'node:crypto'
import { link, rm, statfs } from 'node:fs/promises'
import { join } from 'node:path'
import type { ImageFormat } from '#schemas/images'
import type { Config } from '../config'
import { ConflictError, DomainError } from '../errors'

/**
 * A temporary name in the images directory for `id`'s incoming bytes. Dot files are never an
 * image (server/images/files.ts) nor listed as not imported, and a start sweeps leftovers.
 */
export const tempName = (kind: 'upload' | 'convert', id: string) => `.${kind}-${id}-${randomBytes(6).toString('hex')}.part`
export const isTempName = (file: string) => /^\.(?:upload|convert)-.*\.part$/.test(file)

const EXTENSIONS: Record<ImageFormat, string> = { qcow2: 'qcow2', raw: 'img', iso: 'iso' }
export const fileFor = (id: string, format: ImageFormat) => `${id}.${EXTENSIONS[format]}`

/**
 * Gives the finished temporary file `tmp` its name `file` in `dir` without ever replacing a file
 * already there (a hard link fails on an existing name, where a rename would overwrite it).
 */
export async function placeNew(dir: string, tmp: string, file: string) {
  try {
    await link(join(dir, tmp), join(dir, file))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConflictError(N_('The file "{file}" already exists in the images directory'), { file })
    }
    throw err
  }
  await rm(join(dir, tmp), { force: true })
}

/**
 * A job's new file `file` of `dir`: `write` fills a temporary file (named to the job as its
 * partial, so a crash leaves nothing), which gets its name only once complete. A cancel, even one
 * that comes as it completes, leaves no file.
 */
export async function writeNewFile(dir: string, run: { id: string; signal: AbortSignal; partial(file: string): Promise<void> }, file: string, write: (tmp: string) => Promise<unknown>): Promise<'done' | 'cancelled'> {
  const tmp = tempName('convert', run.id)
  await run.partial(tmp)
  try {
    if ((await write(join(dir, tmp))) === 'cancelled') return 'cancelled'
    await placeNew(dir, tmp, file)
  } finally {
    await rm(join(dir, tmp), { force: true })
  }
  if (run.signal.aborted) {
    await rm(join(dir, file), { force: true })
    return 'cancelled'
  }
  return 'done'
}

/** Bytes free to LabVirt (not root's reserved blocks) on the file system of `dir`. */
export async function diskFree(dir: string): Promise<number> {
  const s = await statfs(dir)
  return s.bavail * s.bsize
}

/** Bytes that may still be written to the data dir while leaving LABVIRT_DISK_RESERVE free. */
export async function spaceLeft(config: Pick<Config, 'dataDir' | 'diskReserveBytes'>): Promise<number> {
  return (await diskFree(config.dataDir)) - config.diskReserveBytes
}

/** Bytes as GiB with one decimal, as disk-space messages show them (in the reader's language). */
export const gib = (n: number): Quantity => ({ number: n / 2 ** 30, fractionDigits: 1 })

export function noSpace(config: Pick<Config, 'diskReserveBytes'>, needed: number, left: number) {
  return new DomainError(507, 'no_space', N_('Not enough disk space: this needs {needed} GiB and would leave less than the reserve of {reserve} GiB free (room for {left} GiB)'), {
    needed: gib(needed),
    reserve: gib(config.diskReserveBytes),
    left: gib(Math.max(0, left)),
  })
}
