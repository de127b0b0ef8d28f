import { defineEventHandler } from 'h3'
import { useContext } from '#server/context'
import { answerTerminal } from '#server/terminals/answer'
import { callerOf, readTerminalQuery, requestHost, sendAnswer } from '#server/http/terminal'
import { countTerminalRequest, terminalOutcome } from '#server/metrics/index'

export default defineEventHandler(async (event) => {
  const { mac, format } = readTerminalQuery(event)
  const ctx = await useContext()
  const answer = await answerTerminal(ctx, callerOf(event, ctx.config, mac), requestHost(event)).catch((err) => {
    countTerminalRequest(terminalOutcome(err))
    throw err
  })
  countTerminalRequest('ok')
  return sendAnswer(event, answer, format)
})
