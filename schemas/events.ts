import { N_ } from './msgid'
import * as v from 'valibot'

export const MAX_EVENTS = 1000

/** `GET /api/events?limit=N`: how many of the newest events, 1 to 1000 (100 when unset). */
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
})
