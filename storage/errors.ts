/** The store cannot be reached or written (Redis down, disk failing): the API answers 503. */
export class StoreUnavailableError extends Error {
  // Kept as `reason`, not `cause`: h3 wraps a thrown error as `cause: err.cause || err`, which
  // would hand the error handler the driver's error instead of this one.
  constructor(public reason: unknown) {
    super(`store unavailable: ${reason instanceof Error ? reason.message : String(reason)}`)
    this.name = 'StoreUnavailableError'
  }
}
