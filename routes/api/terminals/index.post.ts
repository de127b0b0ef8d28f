import { defineEventHandler, setResponseStatus } from 'h3'
import { TerminalCreate } from '#schemas/terminals'
import { useContext } from '#server/context'
import { createTerminal } from '#server/terminals/index'
import { readBody } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const input = await readBody(event, TerminalCreate)
  const created = await createTerminal((await useContext()).store, actorOf(event), input)
  setResponseStatus(event, 201)
  return created
})
