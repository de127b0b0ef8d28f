import { defineEventHandler, setResponseStatus } from 'h3'
import { HeartbeatBody } from '#schemas/terminal-api'
import { useContext } from '#server/context'
import { recordHeartbeat } from '#server/terminals/answer'
import { readBody } from '#server/http/input'
import { callerOf, readTerminalQuery } from '#server/http/terminal'

export default defineEventHandler(async (event) => {
  const { mac } = readTerminalQuery(event)
  const { state } = await readBody(event, HeartbeatBody)
  const ctx = await useContext()
  await recordHeartbeat(ctx, callerOf(event, ctx.config, mac), state)
  setResponseStatus(event, 204)
  return null
})
