import * as v from 'valibot'
import { N_ } from './msgid'
import { Description, Name, updateSchema } from './common'

/** Paths under /api/images/ that are routes, so no image may be named so. */
const RESERVED = ['unimported', 'import']

/** An image's name: a Name that is not one of the image routes' own path segments. */
export const ImageName = v.pipe(
  Name,
  v.check((n) => !RESERVED.includes(n), N_('This name is reserved')),
)

/**
 * A file an admin put in the images directory: one path segment of letters, digits, `.`, `_`,
 * `+` and `-`, not starting with a dot or a dash and without `..`. It reaches qemu-img's command
 * line: no comma (QEMU's option separator), no slash, nothing an option parser could take.
 */
export const FILE_PATTERN = /^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._+-]{0,127}$/
export const ImageFileName = v.pipe(
  v.string(),
  v.regex(FILE_PATTERN, N_('Use a file name of the images directory: letters, digits, ".", "_", "+" and "-", not starting with "." or "-"')),
)

export const ImageImport = v.strictObject({
  file: ImageFileName,
  name: v.optional(ImageName),
  description: Description,
  convert: v.optional(v.boolean(), false),
})

export const IMAGE_FORMATS = ['qcow2', 'raw', 'iso'] as const
export type ImageFormat = (typeof IMAGE_FORMATS)[number]

export const MAX_IMAGE_MIB = 4 * 1024 * 1024

export const ImageCreate = v.strictObject({
  name: ImageName,
  description: Description,
  sizeMiB: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_IMAGE_MIB)),
})

/** Only the description can change; the figures qemu-img reports may be echoed back and are ignored. */
export const ImageUpdate = updateSchema({
  name: v.optional(Name),
  description: Description,
  file: v.optional(v.string()),
  format: v.optional(v.string()),
  virtualSize: v.optional(v.number()),
  actualSize: v.optional(v.number()),
})

export interface Image {
  name: string
  description: string
  /** File name under the images directory. */
  file: string
  format: string
  virtualSize: number
  actualSize: number
  /** The file (in the images directory) a linked clone's reads fall through to; none for a standalone image. */
  backingFile?: string
}
