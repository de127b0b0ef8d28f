import { defineEventHandler } from 'h3'
import { EventsQuery } from '#schemas/events'
import { useContext } from '#server/context'
import { listEvents } from '#server/events/index'
import { readQuery } from '#server/http/input'
import { languageOf } from '#server/http/language'

export default defineEventHandler(async (event) => {
  const { limit, ...filter } = readQuery(event, EventsQuery)
  return listEvents((await useContext()).store, limit, filter, languageOf(event))
})
