/** The QMP commands LabVirt uses, typed from QEMU's QAPI schema (7.2). Others go through `executeRaw`. */

export interface QmpGreeting {
  QMP: {
    version: { qemu: { major: number; minor: number; micro: number }; package: string }
    capabilities: string[]
  }
}

/** QAPI RunState. */
export type RunState =
  | 'debug' | 'inmigrate' | 'internal-error' | 'io-error' | 'paused' | 'postmigrate' | 'prelaunch'
  | 'finish-migrate' | 'restore-vm' | 'running' | 'save-vm' | 'shutdown' | 'suspended' | 'watchdog'
  | 'guest-panicked' | 'colo'

export interface StatusInfo {
  running: boolean
  singlestep?: boolean
  status: RunState
}

export interface VncClientInfo {
  host: string
  service: string
  family: string
  websocket: boolean
  x509_dname?: string
  sasl_username?: string
}

export interface VncInfo {
  enabled: boolean
  host?: string
  family?: string
  service?: string
  auth?: string
  clients?: VncClientInfo[]
}

export interface BlockInfo {
  device: string
  qdev?: string
  locked: boolean
  removable: boolean
  type: string
  inserted?: { file: string; ro: boolean; drv: string; backing_file?: string; [k: string]: unknown }
  [k: string]: unknown
}

type Empty = Record<string, never>

/** command -> its arguments (`undefined`: takes none) and what it returns. */
export interface QmpCommands {
  qmp_capabilities: { args: { enable?: string[] } | undefined; ret: Empty }
  'query-status': { args: undefined; ret: StatusInfo }
  'query-version': { args: undefined; ret: QmpGreeting['QMP']['version'] }
  'query-vnc': { args: undefined; ret: VncInfo }
  'query-block': { args: undefined; ret: BlockInfo[] }
  stop: { args: undefined; ret: Empty }
  cont: { args: undefined; ret: Empty }
  system_reset: { args: undefined; ret: Empty }
  system_powerdown: { args: undefined; ret: Empty }
  quit: { args: undefined; ret: Empty }
  /** Presses `keys` together, holds them `hold-time` ms (100 by default), releases them; queued in QEMU. */
  'send-key': { args: { keys: { type: 'qcode'; data: string }[]; 'hold-time'?: number }; ret: Empty }
  'human-monitor-command': { args: { 'command-line': string; 'cpu-index'?: number }; ret: string }
}

export type QmpCommandName = keyof QmpCommands
export type QmpArgs<K extends QmpCommandName> = QmpCommands[K]['args']
export type QmpReturn<K extends QmpCommandName> = QmpCommands[K]['ret']

export interface QmpEvent<D = Record<string, unknown>> {
  event: string
  data: D
  timestamp: { seconds: number; microseconds: number }
}

/** SHUTDOWN's data: `reason` tells a guest poweroff (guest-shutdown) from quit (host-qmp-quit) or a signal (host-signal). */
export interface ShutdownEventData {
  guest: boolean
  reason: string
}
