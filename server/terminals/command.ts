import { PLACEHOLDER } from '#schemas/clients'
import { shq } from '../shell'

/** What a terminal is told: where its seat is, and the client command that connects to it. */
export interface TerminalAnswer {
  terminal: string
  lab: string
  /** The seat's VM id, `<lab>-<n>`. */
  seat: string
  host: string
  port: number
  program: string
  argv: string[]
}

/**
 * The client's args with every `%NAME%` replaced, in one pass (a value that itself looks like a
 * placeholder stays as it is): the seat's own values first, then the terminal's parameters.
 * Unknown names are left as written (`%USERNAME%` may be meant for the remote side).
 */
export function fillArgs(args: readonly string[], values: Record<string, string>): string[] {
  return args.map((a) => a.replace(PLACEHOLDER, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole)))
}

/** The placeholder values of a seat for a terminal; a parameter cannot override the seat's own. */
export function placeholderValues(a: Omit<TerminalAnswer, 'program' | 'argv'>, params: Record<string, string> = {}): Record<string, string> {
  return { ...params, HOST: a.host, PORT: String(a.port), SEAT: a.seat, LAB: a.lab, TERMINAL: a.terminal }
}

/** One shell line: a launcher runs it with `eval "set -- $line"; "$@"`, every argument intact. */
export const commandLine = (a: Pick<TerminalAnswer, 'program' | 'argv'>) => `${[a.program, ...a.argv].map(shq).join(' ')}\n`

/** `host:port`, with an IPv6 address in brackets. */
const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)

/**
 * A minimal `.rdp` file for the seat: the address, full screen, and the user name when the
 * terminal has a USER parameter. Parameters hold no control characters, so no line can be injected.
 */
export function rdpFile(a: Pick<TerminalAnswer, 'host' | 'port'>, params: Record<string, string> = {}): string {
  const lines = [`full address:s:${hostPort(a.host, a.port)}`, 'screen mode id:i:2']
  if (params.USER) lines.push(`username:s:${params.USER}`)
  return `${lines.join('\r\n')}\r\n`
}
