import { N_ } from './msgid'
import * as v from 'valibot'
import { Mac } from './common'

// What the terminals themselves send and what LabVirt keeps about them (not admin records).

export const HEARTBEAT_STATES = ['connected', 'idle'] as const
export type HeartbeatState = (typeof HEARTBEAT_STATES)[number]

/** A terminal that asked for its seat but is not known yet, for an admin to adopt. Keyed by MAC or IP. */
export interface PendingTerminal {
  ip: string
  mac?: string
  firstSeen: string
  lastSeen: string
}

/** The launcher's last word: its client is connected to `seat`, or idle. Keyed by terminal name. */
export interface Heartbeat {
  terminal: string
  seat?: string
  state: HeartbeatState
  at: string
}

/** Which terminal a seat was given to (sticky seats). Keyed by VM id. */
export interface SeatAssignment {
  terminal: string
  at: string
}

/** Who is connected to a VM, as the host running it observes. Keyed by VM id. */
/**
 * A seat's last terminal session, once it ended (the connection watcher's word): a profile with
 * `resetAfterSession` restarts the seat when it ended a grace period ago.
 */
export interface SessionEnd {
  /** When its connection was first seen (its connection record's `since`). */
  began: string
  ended: string
  host: string
}

export interface Connection {
  /** The terminal's name: a terminal has the address, or said so in a heartbeat. */
  terminal?: string
  /** The peer's address, as the host saw it (none for a heartbeat). */
  address?: string
  since: string
  /**
   * How it was seen: connection tracking, the host's sockets (user mode), the launcher's heartbeat,
   * or only admin consoles are open (no terminal).
   */
  via: 'conntrack' | 'socket' | 'heartbeat' | 'console'
  /** Admin consoles open (QMP VNC_CONNECTED / VNC_DISCONNECTED). */
  consoles: number
  host: string
}

export const TerminalQuery = v.strictObject({
  mac: v.optional(Mac),
  format: v.optional(v.picklist(['text', 'json', 'rdp'] as const)),
})

/** The launcher's heartbeat: is its client connected to the seat, or not. */
export const HeartbeatBody = v.strictObject({ state: v.picklist(HEARTBEAT_STATES) })

/** A pending terminal's id: its MAC (or else IPv4 address) with `-` for `:` and `.`. */
export const PendingId = v.pipe(
  v.string(),
  v.regex(/^(?:[0-9a-f]{2}(?:-[0-9a-f]{2}){5}|\d{1,3}(?:-\d{1,3}){3})$/, N_('Not a pending terminal id')),
)
