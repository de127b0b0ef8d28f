import { defineEventHandler, setResponseStatus } from 'h3'
import { HeartbeatBody, TerminalQuery } from '#schemas/terminal-api'
import { useContext } from '#server/context'
import { recordHeartbeat } from '#server/terminals/answer'
import { readBody, readQuery } from '#server/http/input'
import { callerOf, plainErrors } from '#server/http/terminal'

export default defineEventHandler(async (event) => {
  plainErrors(event)
  const { mac } = readQuery(event, TerminalQuery)
  const { state } = await readBody(event, HeartbeatBody)
  const ctx = await useContext()
  await recordHeartbeat(ctx, callerOf(event, ctx.config, mac), state)
  setResponseStatus(event, 204)
  return null
})
