/**
 * Requests under way per client address. Admitting one returns its release (idempotent), or
 * undefined when the address already has `max` under way.
 */
export class InFlight {
  private counts = new Map<string, number>()

  admit(address: string, max: number): (() => void) | undefined {
    const n = this.counts.get(address) ?? 0
    if (n >= max) return undefined
    this.counts.set(address, n + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.counts.get(address) ?? 1) - 1
      if (left > 0) this.counts.set(address, left)
      else this.counts.delete(address)
    }
  }
}
