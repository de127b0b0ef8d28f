import { defineEventHandler } from 'h3'
import { TerminalQuery } from '#schemas/terminal-api'
import { useContext } from '#server/context'
import { answerTerminal } from '#server/terminals/answer'
import { readQuery } from '#server/http/input'
import { answerFormat, callerOf, plainErrors, requestHost, sendAnswer } from '#server/http/terminal'
import { countTerminalRequest, terminalOutcome } from '#server/metrics/index'

export default defineEventHandler(async (event) => {
  plainErrors(event)
  const { mac } = readQuery(event, TerminalQuery)
  const ctx = await useContext()
  const answer = await answerTerminal(ctx, callerOf(event, ctx.config, mac), requestHost(event)).catch((err) => {
    countTerminalRequest(terminalOutcome(err))
    throw err
  })
  countTerminalRequest('ok')
  return sendAnswer(event, answer, answerFormat(event))
})
