import * as v from 'valibot'
import { Description, Name, updateSchema } from './common'

export const MAX_IMAGE_MIB = 4 * 1024 * 1024

export const ImageCreate = v.strictObject({
  name: Name,
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
}
