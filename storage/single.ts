import type { Kv } from './kv'

/** One record under a fixed key that changes atomically as a whole (e.g. the map of forwarded port blocks). */
export class SingleRecord<T> {
  constructor(private kv: Kv, private key: string) {}
  get() {
    return this.kv.get<T>(this.key)
  }
  update(fn: (current: T | null) => T | null | Promise<T | null>) {
    return this.kv.update<T>(this.key, fn)
  }
}
