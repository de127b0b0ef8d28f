import { defineEventHandler } from 'h3'
import { TerminalUpdate } from '#schemas/terminals'
import { useContext } from '#server/context'
import { updateTerminal } from '#server/terminals/index'
import { readBody, readId } from '#server/http/input'
import { actorOf } from '#server/http/session'

export default defineEventHandler(async (event) => {
  const id = readId(event)
  const input = await readBody(event, TerminalUpdate)
  return updateTerminal((await useContext()).store, actorOf(event), id, input)
})
