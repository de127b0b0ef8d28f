/** The QMP client: transport (JSON lines), typed commands and events, named errors. */
export { QmpClient, connectWithRetry, type ConnectOptions, type ExecuteOptions, type RetryOptions } from './client'
export { QmpClosedError, QmpCommandError, QmpConnectError, QmpError, QmpProtocolError, QmpTimeoutError } from './errors'
export type * from './types'
