import { N_ } from './msgid'
import * as v from 'valibot'
import { Name } from './common'

export const MAX_EVENTS = 1000

/** An event's place in the log (its key), as `cursor` shows it: `before=` / `after=` page by it. */
const Cursor = v.pipe(v.string(), v.regex(/^\d{15}-\d{6}-[0-9a-f]{8}$/, N_('Must be the cursor of an event')))

/**
 * `GET /api/events`: the newest `limit` events (1 to 1000, 100 when unset), optionally only those
 * by `user`, of `kind`, containing `q` (in who, what, kind or name), older than `before` or newer
 * than `after`.
 */
export const EventsQuery = v.object({
  limit: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^\d{1,10}$/, N_('Must be a whole number')),
      v.transform(Number),
      v.minValue(1),
      v.maxValue(MAX_EVENTS),
    ),
    '100',
  ),
  user: v.optional(Name),
  kind: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z][A-Za-z -]{0,39}$/, N_('Must be a kind of record, like lab')))),
  q: v.optional(v.pipe(v.string(), v.maxLength(100), v.regex(/^[^\u0000-\u001f\u007f]*$/, N_('Control characters are not allowed')))),
  before: v.optional(Cursor),
  after: v.optional(Cursor),
})
export type EventFilter = Omit<v.InferOutput<typeof EventsQuery>, 'limit'>
