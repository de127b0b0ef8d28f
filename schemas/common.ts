import { N_ } from './msgid'
import * as v from 'valibot'

/**
 * A name that reaches command lines, file names and QEMU options: lowercase letters, digits and
 * inner hyphens, starting with a letter. Seat names append `-<n>` and maintenance VMs `-maint`, so
 * the name stays short.
 */
export const NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,22}[a-z0-9])?$/
export const Name = v.pipe(
  v.string(),
  v.regex(NAME_PATTERN, N_('Use 1 to 24 lowercase letters, digits and inner hyphens, starting with a letter')),
)

export const Description = v.optional(v.pipe(v.string(), v.maxLength(500)), '')

/** Free text that may end up in an argv element: printable, no control characters. */
export const ArgText = (max: number) =>
  v.pipe(v.string(), v.maxLength(max), v.regex(/^[^\u0000-\u001f\u007f]*$/, N_('Control characters are not allowed')))

export const Revision = v.pipe(v.number(), v.integer(), v.minValue(1))

export const MAC_PATTERN = /^[0-9a-f]{2}(?::[0-9a-f]{2}){5}$/
export const Mac = v.pipe(
  v.string(),
  v.toLowerCase(),
  v.regex(MAC_PATTERN, N_('Must be a MAC address like 52:54:00:12:34:56')),
  v.check((mac) => (parseInt(mac.slice(0, 2), 16) & 1) === 0, N_('Must be a unicast MAC address')),
)

/** A Linux interface name: at most 15 bytes (IFNAMSIZ); stricter than the kernel on purpose (it reaches command lines). */
export const IFNAME_PATTERN = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/

export const IPV4_PATTERN = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/
export const Ipv4 = v.pipe(v.string(), v.regex(IPV4_PATTERN, N_('Must be an IPv4 address like 10.0.5.1')))

/** Fields a client may send back unchanged in a PUT (the record as GET returned it). */
export const RecordEcho = {
  id: v.optional(v.string()),
  createdAt: v.optional(v.string()),
  updatedAt: v.optional(v.string()),
}

/**
 * The schema of a PUT: the create fields, the record's revision, and the echoed metadata. The name
 * is in the URL, so the body may leave it out (if present it must be the same: names are ids).
 */
export function updateSchema<E extends v.ObjectEntries>(entries: E) {
  return v.strictObject({ ...entries, ...RecordEcho, name: v.optional(Name), revision: Revision })
}

/** `?revision=` on DELETE: optional, guards against deleting something changed meanwhile. */
export const DeleteQuery = v.object({
  revision: v.optional(v.pipe(v.string(), v.regex(/^[1-9]\d{0,9}$/, N_('Must be a whole number')), v.transform(Number))),
})
