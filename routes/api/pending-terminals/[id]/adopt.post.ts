import { defineEventHandler, setResponseStatus } from 'h3'
import { PendingId } from '#schemas/terminal-api'
import { TerminalAdopt } from '#schemas/terminals'
import { useContext } from '#server/context'
import { adoptPending } from '#server/terminals/adopt'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event, 'id', PendingId)
  const input = await readBody(event, TerminalAdopt)
  const created = await adoptPending((await useContext()).store, actorOf(event), id, input)
  setResponseStatus(event, 201)
  return created
})
