/**
 * Named QMP errors, so callers branch on the class instead of parsing messages (as incus's
 * drivers/qmp does). Every one extends QmpError.
 */
export class QmpError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** Could not reach the socket at all (no file, nobody listening): the VM is not up (yet). */
export class QmpConnectError extends QmpError {
  constructor(
    public readonly path: string,
    /** The errno code, e.g. ENOENT or ECONNREFUSED. */
    public readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`Cannot connect to QMP socket ${path}: ${code}`, options)
  }
}

/** QEMU answered a command with an error. `class` is QMP's error class (GenericError, CommandNotFound, ...). */
export class QmpCommandError extends QmpError {
  /** QMP's error class: GenericError, CommandNotFound, DeviceNotFound, ... */
  readonly class: string
  constructor(
    public readonly command: string,
    errorClass: string,
    public readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`)
    this.class = errorClass
  }
}

/** No answer in time. The connection stays open; a late reply is dropped. */
export class QmpTimeoutError extends QmpError {
  constructor(
    /** The command, or `greeting` while connecting. */
    public readonly command: string,
    public readonly timeoutMs: number,
    hint = '',
  ) {
    super(`QMP ${command} got no answer in ${timeoutMs} ms${hint}`)
  }
}

/** The connection is gone: every command still waiting rejects with this (or a subclass). */
export class QmpClosedError extends QmpError {}

/** QEMU (or whatever is on the socket) sent something that is not QMP; the connection was closed. */
export class QmpProtocolError extends QmpClosedError {
  constructor(
    message: string,
    /** The offending input, cut short. */
    public readonly input?: string,
  ) {
    super(input === undefined ? message : `${message}: ${JSON.stringify(input.slice(0, 200))}`)
  }
}
