import { type H3Event, getQuery, getRequestHeader, setResponseHeader } from 'h3'
import { TerminalQuery } from '#schemas/terminal-api'
import type { Config } from '../config'
import { clientAddress } from './client'
import { validate } from './input'
import type { Caller } from '../terminals/identify'
import { commandLine, rdpFile, type TerminalAnswer } from '../terminals/command'

// The terminal-facing answers: a launcher reads plain text (a shell line, or the message of an
// error to show), a program JSON, an RDP client a .rdp file.

export type AnswerFormat = 'text' | 'json' | 'rdp'

/** `?format=` wins; else JSON when the caller accepts it; else text. */
function answerFormat(event: H3Event, format: unknown): AnswerFormat {
  if (format === 'json' || format === 'rdp' || format === 'text') return format
  return /\bapplication\/json\b/i.test(getRequestHeader(event, 'accept') ?? '') ? 'json' : 'text'
}

/**
 * A terminal route's query, read once, and the format of its answer: from here on errors (a bad
 * query's too) are answered as plain text (see the error handler) unless JSON was asked for.
 */
export function readTerminalQuery(event: H3Event): { mac?: string; format: AnswerFormat } {
  // A launcher's usual request has no query at all: nothing to parse.
  const raw = event.path.includes('?') ? getQuery(event) : {}
  const format = answerFormat(event, raw.format)
  if (format !== 'json') event.context.plainErrors = true
  return { ...validate(TerminalQuery, raw), format }
}

export function callerOf(event: H3Event, config: Config, mac: string | undefined): Caller {
  return { ip: clientAddress(event, config.trustProxy), mac }
}

const HOSTNAME = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const IPV6 = /^[0-9A-Fa-f:.]{2,45}$/

/**
 * The name the terminal used to reach LabVirt (the Host header, without its port): a user-mode seat
 * is reached through the same host. A missing or odd header gives the address the request came in on.
 */
export function requestHost(event: H3Event): string {
  const header = getRequestHeader(event, 'host') ?? ''
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(header)
  const host = bracketed ? bracketed[1]! : header.replace(/:\d+$/, '')
  if (bracketed ? IPV6.test(host) : HOSTNAME.test(host)) return host
  const local = event.node.req.socket.localAddress ?? '127.0.0.1'
  return local.startsWith('::ffff:') ? local.slice(7) : local
}

/** Writes the answer in `format`. */
export function sendAnswer(event: H3Event, a: TerminalAnswer & { params: Record<string, string> }, format: AnswerFormat) {
  setResponseHeader(event, 'cache-control', 'no-store')
  if (format === 'json') {
    const { terminal, lab, seat, host, port, program, argv } = a
    return { terminal, lab, seat, host, port, program, argv }
  }
  if (format === 'rdp') {
    setResponseHeader(event, 'content-type', 'application/x-rdp')
    setResponseHeader(event, 'content-disposition', `attachment; filename="${a.seat}.rdp"`)
    return rdpFile(a, a.params)
  }
  setResponseHeader(event, 'content-type', 'text/plain; charset=utf-8')
  return commandLine(a)
}
