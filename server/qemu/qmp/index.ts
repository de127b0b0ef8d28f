/** The QMP client: transport (JSON lines), typed commands and events, named errors. */
export { QmpClient, connectWithRetry, DEFAULT_TIMEOUT_MS, type ConnectOptions, type ExecuteOptions, type RetryOptions } from './client'
export { QmpClosedError, QmpCommandError, QmpConnectError, QmpError, QmpProtocolError, QmpTimeoutError } from './errors'
export type * from './types'
